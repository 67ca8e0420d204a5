"""The current regimen and the comparisons the escalation rules use (cds.facts.regimen)."""

from __future__ import annotations

from dataclasses import replace

from cds.facts.model import OrderFact
from cds.facts.regimen import CurrentRegimen


def order(status="active", mcg_per_28d=333.333, *, parenteral=True, reported=False, draft=False, antidote=False,
          authored=30.0, supply_days=None, ingredient="hydroxo") -> OrderFact:
    return OrderFact(id=f"mr-{status}-{authored}", ingredient=ingredient, product="hydroxocobalamin",
                     antidote=antidote, cyanokit=False, route="im", route_text="IM", parenteral=parenteral,
                     injectable=parenteral, dose_kind="mass", dose_unit_problem=False, unreadable=False,
                     status=status, intent="order", has_reason=False, reported_by_patient=reported,
                     bounded=False, is_draft=draft, mcg_per_28d=mcg_per_28d, authored_days_ago=authored,
                     supply_days=supply_days, dose_text="1 mg", frequency_text="every 12 weeks",
                     dispense_text="2 mL")


def test_rate_counts_only_active_prescribed_orders():
    orders = [order(), order("completed"), order(reported=True, mcg_per_28d=4000), order(antidote=True),
              order(parenteral=False, mcg_per_28d=28000)]
    regimen = CurrentRegimen.of(orders)
    assert regimen.rate(injections_only=True) == 333.333
    assert regimen.rate() == 28333.333
    assert regimen.text == "1 mg IM every 12 weeks + 1 mg IM every 12 weeks"


def test_no_active_order_is_a_zero_rate_and_an_unreadable_one_is_unknown():
    assert CurrentRegimen.of([order("completed")]).rate() == 0
    assert CurrentRegimen.of([order(mcg_per_28d=None)]).rate() is None


def test_draft_compared_with_current_rate_and_last_supply():
    history = [order("completed", authored=200, supply_days=168), order("active", authored=20, supply_days=168),
               order("entered-in-error", authored=5, supply_days=168), order("active", authored=2, reported=True),
               order("active", authored=1, supply_days=30, ingredient="cyano")]
    draft = replace(order(draft=True, mcg_per_28d=4000, authored=0), status="draft")
    compared = CurrentRegimen.of(history).compared(draft, history)
    assert compared.times_current_rate == 6.0   # two active prescribed injections of 333.333
    assert (compared.last_supply_days_ago, compared.last_supply_duration, compared.last_supply_issued) == (
        20, "24 weeks", "20 days ago")
    assert compared.last_supply_used == round(20 / 168, 3)


def test_no_supply_stated_gives_no_last_supply():
    compared = CurrentRegimen.of([]).compared(order(draft=True), [order("completed", supply_days=None)])
    assert compared.last_supply_used is None and compared.times_current_rate is None
