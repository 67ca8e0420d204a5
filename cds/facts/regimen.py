"""The current prescribed B12 regimen, and how a draft or a patient's report compares with it.

One job: the facts the escalation rules compare (clinical-rules.md §2, escalation pack). The
current regimen is every active prescribed B12 order (not a draft, an antidote or the patient's
own report). Its rate is unknown when any of its orders has no computable rate: a comparison with
an unknown rate never fires. The last supply of a draft's ingredient is the most recent earlier
order of it (not cancelled, entered in error or patient-reported) that states a dispense quantity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cds.facts.display import days_ago_text, duration_text
from cds.facts.model import OrderFact

_VOID = frozenset({"cancelled", "entered-in-error"})


@dataclass(frozen=True)
class CurrentRegimen:
    orders: tuple[OrderFact, ...]

    @classmethod
    def of(cls, orders: list[OrderFact]) -> CurrentRegimen:
        return cls(tuple(o for o in orders if o.status == "active" and not o.is_draft and not o.antidote
                         and not o.reported_by_patient))

    def rate(self, injections_only: bool = False) -> float | None:
        """Combined mcg per 28 days: 0 when there is no such order, None when one has no rate."""
        counted = [o for o in self.orders if o.parenteral or not injections_only]
        if any(o.mcg_per_28d is None for o in counted):
            return None
        return round(sum(o.mcg_per_28d or 0 for o in counted), 3)

    @property
    def text(self) -> str | None:
        """'1 mg IM every 12 weeks', or several joined with ' + '."""
        parts = [" ".join(filter(None, (o.dose_text, o.route_text, o.frequency_text))) for o in self.orders]
        return " + ".join(parts) or None

    def compared(self, draft: OrderFact, orders: list[OrderFact]) -> OrderFact:
        """The draft with its rate relative to the current injections and its ingredient's last supply."""
        rate = self.rate(injections_only=True)
        times = draft.mcg_per_28d / rate if rate and draft.mcg_per_28d is not None else None
        return _with_last_supply(replace(draft, times_current_rate=round(times, 1) if times else None), orders)


def _with_last_supply(draft: OrderFact, orders: list[OrderFact]) -> OrderFact:
    earlier = [o for o in orders if o.ingredient == draft.ingredient and o.status not in _VOID and not o.antidote
               and not o.reported_by_patient and o.authored_days_ago is not None]
    if not earlier:
        return draft
    last = min(earlier, key=lambda o: o.authored_days_ago or 0)
    if not last.supply_days or last.authored_days_ago is None:
        return draft
    return replace(draft,
                   last_supply_text=f"{last.dispense_text} of {last.dose_text} {last.frequency_text}",
                   last_supply_days=last.supply_days,
                   last_supply_duration=duration_text(last.supply_days),
                   last_supply_days_ago=last.authored_days_ago,
                   last_supply_used=round(last.authored_days_ago / last.supply_days, 3),
                   last_supply_issued=days_ago_text(last.authored_days_ago))
