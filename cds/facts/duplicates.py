"""The same B12 order drafted twice in one request (escalation.duplicate-draft).

Two drafts (on order-select, selected or not) duplicate each other when they have the same
ingredient, route class, dose and schedule (a multi-step draft counts as each of its steps) and their
periods overlap: each runs from `boundsPeriod.start` (else now) to its end from bounds or count
(else it is open). The later one (later start, then later in the request) is marked; when the later
one is not under evaluation, the earlier one is, so the duplicate is still named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from cds.facts.model import OrderFact


@dataclass(frozen=True)
class DraftStep:
    """A draft step and its place in the request; `evaluated`: selected (its cards are shown)."""

    fact: OrderFact
    position: int
    evaluated: bool

    @property
    def period(self) -> tuple[float, float]:
        """[start, end) in days from now; an open end is infinite."""
        start = self.fact.starts_in_days or 0.0
        end = self.fact.ends_in_days
        return start, math.inf if end is None else end


def with_duplicates(steps: list[DraftStep]) -> list[OrderFact]:
    """Every evaluated draft step, those that duplicate another draft marked with its order id."""
    marked: dict[str, str] = {}
    for index, later in enumerate(steps):
        for earlier in steps[:index]:
            if earlier.fact.order_id == later.fact.order_id or not _same(earlier.fact, later.fact):
                continue
            if not _overlap(earlier.period, later.period):
                continue
            first, second = sorted((earlier, later), key=lambda s: (s.period[0], s.position))
            target, other = (second, first) if second.evaluated else (first, second)
            if target.evaluated:
                marked.setdefault(target.fact.id, other.fact.order_id)
    return [replace(s.fact, duplicate_of=marked[s.fact.id]) if s.fact.id in marked else s.fact
            for s in steps if s.evaluated]


def _same(first: OrderFact, second: OrderFact) -> bool:
    return (not first.antidote and not second.antidote and first.dose_mcg is not None
            and first.ingredient == second.ingredient and first.route_class == second.route_class
            and first.dose_mcg == second.dose_mcg and first.interval_days == second.interval_days)


def _overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    return first[0] < second[1] and second[0] < first[1]
