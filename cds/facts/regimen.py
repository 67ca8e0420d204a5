"""The current prescribed B12 regimen, and how a draft or a patient's report compares with it.

One job: the facts the escalation and under-treatment rules compare (clinical-rules.md §2). The
current regimen is every active prescribed B12 order (not a draft, an antidote or the patient's own
report); identical orders authored within a day of each other (interface duplicates) count once.
Its rate is unknown when any of its orders has no computable rate: a comparison with an unknown rate
never fires. The last supply of a draft is the most recent earlier order of the same ingredient and
route class (not cancelled, entered in error or patient-reported) that states a dispense quantity.
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
    def of(cls, orders: list[OrderFact], same_within_days: float) -> CurrentRegimen:
        active = [o for o in orders if o.status == "active" and not o.is_draft and not o.antidote
                  and not o.reported_by_patient]
        return cls(tuple(o for index, o in enumerate(active)
                         if not any(_same_order(o, earlier, same_within_days) for earlier in active[:index])))

    def rate(self, injections_only: bool = False) -> float | None:
        """Combined mcg per 28 days: 0 when there is no such order, None when one has no rate."""
        return _total([o for o in self.orders if o.parenteral or not injections_only], "mcg_per_28d")

    @property
    def oral_only(self) -> bool:
        """There is a prescribed regimen and every order of it is oral or nasal."""
        return bool(self.orders) and all(o.route_class in ("oral", "nasal") for o in self.orders)

    @property
    def oral_mcg_per_day(self) -> float | None:
        """The oral orders' combined dose a day; None when there is none (nasal sprays are judged by their
        label, not by this)."""
        oral = [o for o in self.orders if o.route_class == "oral"]
        return _total(oral, "mcg_per_day") if oral else None

    def text(self, injections_only: bool = False) -> str | None:
        """'1 mg IM every 12 weeks', or several joined with ' + '."""
        return " + ".join(o.regimen_text or o.product for o in self.orders
                          if o.parenteral or not injections_only) or None

    def compared(self, draft: OrderFact, orders: list[OrderFact]) -> OrderFact:
        """The draft with its rate relative to the current injections and its last supply."""
        rate = self.rate(injections_only=True)
        times = draft.mcg_per_28d / rate if rate and draft.mcg_per_28d is not None else None
        return _with_last_supply(replace(draft, times_current_rate=round(times, 1) if times else None), orders)


def _total(orders: list[OrderFact], field: str) -> float | None:
    values = [getattr(o, field) for o in orders]
    return None if any(v is None for v in values) else round(sum(values), 3)


def _same_order(order: OrderFact, other: OrderFact, within_days: float) -> bool:
    """The same ingredient, dose, route class and schedule, authored within `within_days` of each other."""
    return (order.ingredient == other.ingredient and order.dose_mcg == other.dose_mcg
            and order.route_class == other.route_class and order.interval_days == other.interval_days
            and order.authored_days_ago is not None and other.authored_days_ago is not None
            and abs(order.authored_days_ago - other.authored_days_ago) <= within_days)


def _with_last_supply(draft: OrderFact, orders: list[OrderFact]) -> OrderFact:
    earlier = [o for o in orders if o.ingredient == draft.ingredient and o.route_class == draft.route_class
               and o.status not in _VOID and not o.antidote and not o.reported_by_patient
               and o.authored_days_ago is not None]
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
