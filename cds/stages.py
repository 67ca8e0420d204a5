"""Where a call's time went, stage by stage."""

from __future__ import annotations

import time


class StageClock:
    """Accumulates the time since the previous mark under each stage's name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now

    def server_timing(self) -> str:
        """The Server-Timing header value (durations in ms)."""
        return ", ".join(f"{name.replace(' ', '-')};dur={seconds * 1000:.2f}" for name, seconds in self.seconds.items())
