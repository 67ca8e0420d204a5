"""The current regimen and the comparisons the escalation rules use (cds.facts.regimen)."""

from __future__ import annotations

from dataclasses import replace

from cds.facts.model import OrderFact
from cds.facts.regimen import CurrentRegimen


def order(status="active", mcg_per_28d=333.333, *, parenteral=True, reported=False, draft=False, antidote=False,
          authored=30.0, supply_days=None, ingredient="hydroxo", dose_mcg=1000.0, interval=84.0) -> OrderFact:
    return OrderFact(id=f"mr-{status}-{authored}", order_id=f"mr-{status}-{authored}", dose_source="structured",
                     route_class="parenteral" if parenteral else "oral", ingredient=ingredient,
                     product="hydroxocobalamin",
                     antidote=antidote, cyanokit=False, route="im", route_text="IM", parenteral=parenteral,
                     injectable=parenteral, dose_kind="mass", dose_unit_problem=False, unreadable=False,
                     status=status, intent="order", has_reason=False, reported_by_patient=reported,
                     bounded=False, is_draft=draft, mcg_per_28d=mcg_per_28d, authored_days_ago=authored,
                     supply_days=supply_days, dose_text="1 mg", frequency_text="every 12 weeks",
                     regimen_text=f"1 mg {'IM' if parenteral else 'oral'} every 12 weeks", dose_mcg=dose_mcg,
                     interval_days=interval, mcg_per_day=mcg_per_28d / 28 if mcg_per_28d else None,
                     dispense_text="2 mL")


SAME_DAY = 1.0


def test_rate_counts_only_active_prescribed_orders():
    orders = [order(), order("completed"), order(reported=True, mcg_per_28d=4000), order(antidote=True),
              order(parenteral=False, mcg_per_28d=28000)]
    regimen = CurrentRegimen.of(orders, SAME_DAY)
    assert regimen.rate(injections_only=True) == 333.333
    assert regimen.rate() == 28333.333
    assert regimen.text() == "1 mg IM every 12 weeks + 1 mg oral every 12 weeks"
    assert regimen.text(injections_only=True) == "1 mg IM every 12 weeks"


def test_identical_orders_authored_within_a_day_count_once():
    """Interface duplicates would halve an escalation: the same ingredient, dose, route class and schedule."""
    twins = [order(authored=30.0), order(authored=30.5)]
    assert CurrentRegimen.of(twins, SAME_DAY).rate() == 333.333
    apart = [order(authored=30.0), order(authored=60.0)]
    assert CurrentRegimen.of(apart, SAME_DAY).rate() == 666.666
    other_dose = [order(authored=30.0), order(authored=30.5, dose_mcg=500.0)]
    assert CurrentRegimen.of(other_dose, SAME_DAY).rate() == 666.666


def test_oral_only_and_the_oral_dose_a_day():
    oral = [order(parenteral=False, mcg_per_28d=1400), order(parenteral=False, mcg_per_28d=1400, authored=5)]
    assert CurrentRegimen.of(oral, SAME_DAY).oral_only
    assert CurrentRegimen.of(oral, SAME_DAY).oral_mcg_per_day == 100
    assert not CurrentRegimen.of([*oral, order()], SAME_DAY).oral_only
    assert not CurrentRegimen.of([], SAME_DAY).oral_only and CurrentRegimen.of([], SAME_DAY).oral_mcg_per_day is None


def test_no_active_order_is_a_zero_rate_and_an_unreadable_one_is_unknown():
    assert CurrentRegimen.of([order("completed")], SAME_DAY).rate() == 0
    assert CurrentRegimen.of([order(mcg_per_28d=None)], SAME_DAY).rate() is None


def test_draft_compared_with_current_rate_and_last_supply():
    history = [order("completed", authored=200, supply_days=168), order("active", authored=20, supply_days=168),
               order("entered-in-error", authored=5, supply_days=168), order("active", authored=2, reported=True),
               order("active", authored=1, supply_days=30, ingredient="cyano")]
    draft = replace(order(draft=True, mcg_per_28d=4000, authored=0), status="draft")
    compared = CurrentRegimen.of(history, SAME_DAY).compared(draft, history)
    assert compared.times_current_rate == 6.0   # two active prescribed injections of 333.333
    assert (compared.last_supply_days_ago, compared.last_supply_duration, compared.last_supply_issued) == (
        20, "24 weeks", "20 days ago")
    assert compared.last_supply_used == round(20 / 168, 3)


def test_no_supply_stated_gives_no_last_supply():
    compared = CurrentRegimen.of([], SAME_DAY).compared(order(draft=True), [order("completed", supply_days=None)])
    assert compared.last_supply_used is None and compared.times_current_rate is None


def test_the_last_supply_is_of_the_same_route_class():
    """A switch from oral to injections is not a refill of the oral supply."""
    oral = order("active", authored=10, supply_days=90, parenteral=False)
    compared = CurrentRegimen.of([oral], SAME_DAY).compared(replace(order(draft=True), status="draft"), [oral])
    assert compared.last_supply_used is None
