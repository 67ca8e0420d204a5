"""B12 treatment history from the non-draft order facts (clinical-rules.md §1).

One job: what the patient's own injection history says about the order under evaluation —
whether it starts a new series, whether a loading course was given, when the current course
began, and whether a lab result was taken during treatment (and so is not diagnostic).
Entered-in-error and cancelled orders never count, and antidote orders (CYANOKIT, IV
hydroxocobalamin in grams) are never treatment history.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from functools import cached_property

from cds.facts.labs import LabSummary
from cds.facts.model import LabFact, OrderFact

# Definitions of clinical-rules.md §1 (not tunable thresholds: they say what "history" means).
RECENT_DAYS = 365            # a completed or stopped order this recent keeps the series going
COURSE_GAP_DAYS = 365        # orders further apart than this belong to different courses
LOADING_MIN_DOSES = 3        # a loading order allowing fewer doses was not a loading course
ONGOING = frozenset({"active", "on-hold"})
ENDED = frozenset({"completed", "stopped"})
ON_TREATMENT_KINDS = frozenset({"b12_total", "b12_active", "mma"})


@dataclass(frozen=True)
class TreatmentHistory:
    """The patient's parenteral B12 treatment orders (non-draft, never antidote or void)."""

    orders: tuple[OrderFact, ...]
    loading_max_interval_days: float

    @classmethod
    def of(cls, orders: list[OrderFact], loading_max_interval_days: float) -> TreatmentHistory:
        counted = tuple(o for o in orders if not o.is_draft and not o.antidote and o.parenteral
                        and o.status in ONGOING | ENDED and o.authored_days_ago is not None)
        return cls(counted, loading_max_interval_days)

    @property
    def new_series(self) -> bool:
        """No ongoing order (of any age) and none ended that was authored in the last year."""
        return not any(o.status in ONGOING or _age(o) <= RECENT_DAYS for o in self.orders)

    @property
    def loading_given(self) -> bool:
        """A loading course authored in the last year."""
        return any(self.is_loading_course(o) and _age(o) <= RECENT_DAYS for o in self.orders)

    def is_loading_course(self, order: OrderFact) -> bool:
        """A parenteral order (or step) dosed at least weekly, for 3 doses or open-ended."""
        return (order.parenteral and not order.antidote and order.interval_days is not None
                and order.interval_days <= self.loading_max_interval_days
                and (order.doses is None or order.doses >= LOADING_MIN_DOSES))

    @property
    def course_start_days_ago(self) -> float | None:
        """Days since the earliest order of the current course (no gap over a year between its
        orders); None when the draft starts a new series."""
        if self.new_series:
            return None
        ages = sorted(_age(o) for o in self.orders)
        start = ages[0]
        for age in ages[1:]:
            if age - start > COURSE_GAP_DAYS:
                break
            start = age
        return start

    def on_treatment(self, days_ago: float) -> bool:
        """A result taken while an order was ongoing, or within a year after one was authored."""
        ages = self._ages  # sorted: is any order authored in [days_ago, days_ago + RECENT_DAYS]?
        return (days_ago <= self._oldest_ongoing
                or bisect_left(ages, days_ago) < bisect_right(ages, days_ago + RECENT_DAYS))

    @cached_property
    def _ages(self) -> list[float]:
        return sorted(_age(o) for o in self.orders)

    @cached_property
    def _oldest_ongoing(self) -> float:
        return max((_age(o) for o in self.orders if o.status in ONGOING), default=-math.inf)

    def marked(self, labs: LabSummary) -> LabSummary:
        """The labs with every B12, active B12 and MMA result marked `on_treatment` where it was."""
        results = {kind: [self._mark(lab) for lab in found] for kind, found in labs.results.items()}
        return replace(labs, latest={kind: found[0] for kind, found in results.items() if found}, results=results)

    def _mark(self, lab: LabFact) -> LabFact:
        on_treatment = lab.kind in ON_TREATMENT_KINDS and self.on_treatment(lab.days_ago)
        return replace(lab, on_treatment=on_treatment) if on_treatment != lab.on_treatment else lab


def _age(order: OrderFact) -> float:
    """Days since the order was authored (always known for the orders a history counts)."""
    return order.authored_days_ago or 0.0
