"""Evaluation slots, and load shed at admission (service.md: a request that has less than
`admission_min_left_s` of its deadline left when its evaluation would start is refused with 503).

When that start can be foreseen, the request is refused on arrival rather than after waiting for
its turn: the evaluations queued before it are counted at their typical length, so under a burst
the EHR hears "busy, retry" at once instead of near its deadline. The pipeline checks again when
the evaluation really starts (cds.pipeline.run_service).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from anyio import CapacityLimiter, to_thread

from cds.pipeline import Overloaded

T = TypeVar("T")
SMOOTHING = 0.2   # weight of the newest evaluation in the typical length


class Admission:
    def __init__(self, slots: int, min_left_s: float):
        self.slots = CapacityLimiter(slots)
        self.min_left_s = min_left_s          # negative: never shed
        self.typical_s = 0.0                  # moving average of an evaluation's time in its slot

    def admit(self, deadline: float) -> None:
        """Raise Overloaded when the evaluation could not start with min_left_s of `deadline` left."""
        if self.min_left_s < 0:
            return
        stats = self.slots.statistics()
        ahead = stats.tasks_waiting + stats.borrowed_tokens
        start = time.monotonic() + ahead * self.typical_s / self.slots.total_tokens
        if deadline - start < self.min_left_s:
            raise Overloaded(f"{ahead} evaluations ahead: less than {self.min_left_s:g} s of the deadline "
                             "would be left to start")

    async def run(self, evaluation: Callable[[], T]) -> T:
        """Run `evaluation` in a worker thread when a slot is free, timing it for `admit`."""

        def timed() -> T:
            began = time.perf_counter()
            try:
                return evaluation()
            finally:
                self.typical_s += SMOOTHING * (time.perf_counter() - began - self.typical_s)

        return await to_thread.run_sync(timed, limiter=self.slots)
