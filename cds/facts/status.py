"""b12_status from the lab summary (clinical-rules.md §1, "Derived status"): low, indeterminate, normal or
unknown, and what it rests on — a measured value, a bound ("<150"), or only a "low" flag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cds.facts.labs import LabSummary
from cds.facts.model import LabFact

_BELOW = frozenset({"<", "<="})


@dataclass(frozen=True)
class B12Status:
    status: str                          # low | indeterminate | normal | unknown
    basis: str                           # value | bound | qualitative | none
    mma_upgraded: bool
    total: LabFact | None                # the results the status rests on
    active: LabFact | None


class StatusReader:
    """Applies facts.yaml `status` thresholds; a stateless reader shared by every request."""

    def __init__(self, thresholds: dict[str, Any]):
        self.t = thresholds

    def read(self, labs: LabSummary, renal_impairment: bool, pregnant: bool, nitrous_oxide: bool) -> B12Status:
        t = self.t
        total = self._result(labs, "b12_total", t["b12_total_low_below"])
        active = self._result(labs, "b12_active", t["b12_active_low_below"])
        mma = self._result(labs, "mma", t["mma_upgrade_above"], raised=True)
        if active is not None and pregnant:
            total = None   # total B12 falls physiologically in pregnancy: an active B12 decides
        raised_mma = mma is not None and mma.value > t["mma_upgrade_above"] and not renal_impairment
        basis = "bound" if any(lab is not None and lab.comparator for lab in (total, active)) else "value"
        if nitrous_oxide and not renal_impairment and (raised_mma or self._raised_homocysteine(labs)):
            return B12Status("low", "value", False, total, active)
        levels = [level for lab, low, normal in ((total, t["b12_total_low_below"], t["b12_total_normal_above"]),
                                                 (active, t["b12_active_low_below"], t["b12_active_normal_above"]))
                  if lab is not None and (level := _level(lab, low, normal))]
        if "low" in levels:
            return B12Status("low", basis, False, total, active)
        if "indeterminate" in levels:
            return B12Status("low" if raised_mma else "indeterminate", basis, raised_mma, total, active)
        if levels:
            return B12Status("normal", basis, False, total, active)
        if any(kind in labs.flagged_low and (labs.flagged_low[kind].days_ago or 0) <= t["b12_lookback_days"]
               for kind in ("b12_total", "b12_active")):
            return B12Status("indeterminate", "qualitative", False, None, None)
        return B12Status("unknown", "none", False, None, None)

    def _result(self, labs: LabSummary, kind: str, threshold: float, raised: bool = False) -> LabFact | None:
        """The result the status rests on: the newest in the look-back window not taken on treatment,
        unless the newest one is on treatment and shows deficiency (a lapsed patient)."""
        deficient: Callable[[LabFact], bool] = ((lambda lab: lab.value > threshold) if raised
                                                else (lambda lab: _level(lab, threshold, threshold) == "low"))
        window = [lab for lab in labs.results.get(kind, []) if lab.days_ago <= self.t["b12_lookback_days"]]
        if window and (not window[0].on_treatment or deficient(window[0])):
            return window[0]
        return next((lab for lab in window if not lab.on_treatment), None)

    def _raised_homocysteine(self, labs: LabSummary) -> bool:
        latest = labs.latest.get("homocysteine")
        return (latest is not None and latest.days_ago <= self.t["b12_lookback_days"]
                and latest.value > self.t["homocysteine_raised_above"])


def _level(lab: LabFact, low_below: float, normal_above: float) -> str:
    """A result against its thresholds; a '<' bound at or below the low threshold is low, above it
    indeterminate (never normal); a '>' bound counts as its value."""
    if lab.comparator in _BELOW:
        return "low" if lab.value <= low_below else "indeterminate"
    if lab.value < low_below:
        return "low"
    return "indeterminate" if lab.value <= normal_above else "normal"
