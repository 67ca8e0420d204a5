"""Simulated daily firing counts for the firing-alarm tests: Poisson noise around a steady rate, a rule that
stops on a given day, seeded so every run sees the same logs."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta


def poisson(rng: random.Random, rate: float) -> int:
    """One Poisson(rate) count by inversion (rates up to a few hundred)."""
    count, term = 0, math.exp(-rate)
    cumulative, draw = term, rng.random()
    while draw > cumulative:
        count += 1
        term *= rate / count
        cumulative += term
    return count


def firing_log(seed: int, first: date, days: int, rate: float, stop_day: int | None = None) -> dict[date, int]:
    """Cards per day for `days` days from `first` (day 1): Poisson(rate) each day, none from `stop_day` on."""
    rng = random.Random(seed)
    counts = {first + timedelta(days=n): poisson(rng, rate) for n in range(days)}
    return {day: 0 if stop_day is not None and (day - first).days + 1 >= stop_day else count
            for day, count in counts.items()}
