"""Evaluation slots and admission: the one place that decides whether a call may start, and that no
call holds a slot past its deadline.

A call is refused with 503 (Overloaded) when it would start its evaluation with less than
`min_left_s` of its deadline left: foreseen on arrival (the evaluations queued before it counted at
their typical length: the median of the recent ones, so a few costly calls from one client do
not make every other call look late), so under a burst the EHR hears "busy, retry" at once rather than near its
deadline, and checked again when its slot is free. A negative `min_left_s` never refuses.

An admitted evaluation that is still running at its deadline (or, when shedding is off, still
waiting for its slot) is let go: the call answers at once (DeadlineReached, answered with
`service.incomplete`) and its slot is free for the next call; the abandoned evaluation stops at
its next stage boundary (cds.pipeline.run_service checks the clock).
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio import to_thread

T = TypeVar("T")
RECENT = 64           # evaluations whose median is the typical length
ANSWER_S = 0.05       # kept from the deadline to build and send the answer of a call let go
BYTES_PER_S = 2_000_000   # a body's size delays its turn for a slot by a second per this many bytes


class Overloaded(RuntimeError):
    """Too little time left to evaluate within the deadline: 503, retry."""


class DeadlineReached(RuntimeError):
    """The evaluation was still running at the deadline: the call answers without it."""


class Slots:
    """Evaluation slots, handed out in order of arrival plus a delay for the body's size
    (BYTES_PER_S): among everyday calls that is first come first served, while a client looping
    multi-megabyte bodies waits its turn behind the calls that arrived in the second after it
    instead of making them queue behind its own. Used from the event loop only."""

    def __init__(self, total: int):
        self.total = total
        self.busy = 0
        self._waiting: list[tuple[float, int, anyio.Event]] = []
        self._arrivals = itertools.count()

    @staticmethod
    def turn(arrived: float, size: int) -> float:
        """A request's place in the queue: its arrival (monotonic), later by the size of its body."""
        return arrived + size / BYTES_PER_S

    def ahead_of(self, turn: float) -> int:
        """Evaluations a request of this turn would wait for: those running and those queued before it."""
        return self.busy + sum(1 for queued, _, _ in self._waiting if queued <= turn)

    async def acquire(self, turn: float) -> None:
        if self.busy < self.total and not self._waiting:
            self.busy += 1
            return
        entry = (turn, next(self._arrivals), anyio.Event())
        heapq.heappush(self._waiting, entry)
        try:
            await entry[2].wait()
        except BaseException:                  # cancelled: leave the queue, or pass on a slot handed over
            if entry[2].is_set():
                self.release()
            else:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        if self._waiting:
            heapq.heappop(self._waiting)[2].set()   # the slot goes straight to the next caller
        else:
            self.busy -= 1


class Admission:
    def __init__(self, slots: int, min_left_s: float):
        self.slots = Slots(slots)
        self.min_left_s = min_left_s          # negative: never shed
        self.recent: deque[float] = deque(maxlen=RECENT)   # seconds in the slot of the latest evaluations

    @property
    def typical_s(self) -> float:
        """The median time an evaluation holds its slot (0 before the first)."""
        return statistics.median(self.recent) if self.recent else 0.0

    def admit(self, deadline: float, turn: float) -> None:
        """Raise Overloaded when the evaluation of a request whose turn (Slots.turn) this is could
        not start with min_left_s of `deadline` left."""
        ahead = self.slots.ahead_of(turn)
        self._check(deadline, time.monotonic() + ahead * self.typical_s / self.slots.total,
                    f"{ahead} evaluations ahead")

    def _check(self, deadline: float, start: float, why: str) -> None:
        if self.min_left_s >= 0 and deadline - start < self.min_left_s:
            raise Overloaded(f"{why}: less than {self.min_left_s:g} s of the deadline would be left to start")

    async def run(self, evaluation: Callable[[], T], deadline: float, turn: float) -> T:
        """Run `evaluation` in a worker thread when a slot is free for its turn (Slots.turn), timing
        it for `admit`. Raises Overloaded if the slot came too late to start, DeadlineReached if the
        deadline came first."""
        began: float | None = None

        def timed() -> T:
            nonlocal began
            began = time.perf_counter()
            try:
                return evaluation()
            finally:
                self.recent.append(time.perf_counter() - began)

        with anyio.move_on_after(max(0.0, deadline - ANSWER_S - time.monotonic())):
            await self.slots.acquire(turn)
            try:
                self._check(deadline, time.monotonic(), "waited for a free evaluation slot")
                return await to_thread.run_sync(timed, abandon_on_cancel=True)
            finally:
                self.slots.release()
        if began is None and self.min_left_s >= 0:
            raise Overloaded("no evaluation slot came free before the deadline")
        raise DeadlineReached("the deadline came before the evaluation ended")
