"""Blocking calls given a time limit, on a few threads of their own.

For store operations on the request path: a call that does not answer in time is given up (its
thread finishes in the background), and when every thread is still stuck (a frozen server) the
next call fails at once instead of queueing behind them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")


class NoAnswer(Exception):
    """The call did not answer in time, or could not start: every thread is still busy."""


class BoundedCalls:
    def __init__(self, name: str, threads: int, timeout_s: float):
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._free = threading.BoundedSemaphore(threads)

    def call(self, function: Callable[[], T]) -> T:
        """`function()`'s result or exception, or NoAnswer after `timeout_s`."""
        if not self._free.acquire(blocking=False):
            raise NoAnswer("every connection is still busy with an unanswered call")

        def run() -> T:
            try:
                return function()
            finally:
                self._free.release()

        future = self._pool.submit(run)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise NoAnswer(f"no answer within {self.timeout_s * 1000:g} ms") from None
