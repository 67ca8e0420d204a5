"""B12 treatment history (cds/facts/history.py): new series, loading given, course start, on treatment."""

from __future__ import annotations

import pytest

from cds.facts.history import TreatmentHistory
from cds.facts.labs import LabSummary
from cds.facts.model import LabFact, OrderFact

LOADING_MAX = 7.0


def order(status: str = "active", authored: float = 30, interval: float | None = 91.3, doses: int | None = None,
          *, parenteral: bool = True, antidote: bool = False, draft: bool = False) -> OrderFact:
    return OrderFact(id=f"mr-{status}-{authored}", order_id=f"mr-{status}-{authored}", dose_source="structured",
                     route_class="parenteral" if parenteral else "oral", ingredient="hydroxo",
                     product="hydroxocobalamin",
                     antidote=antidote, cyanokit=False, route="im" if parenteral else "oral", route_text="IM",
                     parenteral=parenteral, injectable=parenteral, dose_kind="mass", dose_unit_problem=False,
                     unreadable=False, status=status,
                     intent="order", has_reason=False, reported_by_patient=False, bounded=doses is not None,
                     is_draft=draft, interval_days=interval, doses=doses, authored_days_ago=authored)


def history(*orders: OrderFact) -> TreatmentHistory:
    return TreatmentHistory.of(list(orders), LOADING_MAX)


@pytest.mark.parametrize(("orders", "new"), [
    ((), True),
    ((order("active", 2000),), False),                 # ongoing, whatever its age
    ((order("on-hold", 800),),  False),
    ((order("completed", 365),), False),               # a renewal: the previous order completed this year
    ((order("stopped", 200),), False),
    ((order("completed", 366),), True),                # ended over a year ago: a new series
    ((order("entered-in-error", 10),), True),          # void orders never count
    ((order("cancelled", 10),), True),
    ((order("active", 10, antidote=True),), True),     # an antidote order is not treatment history
    ((order("active", 10, parenteral=False),), True),  # oral therapy is not an injection series
    ((order("active", 10, draft=True),), True),        # the draft under evaluation is not history
])
def test_new_series(orders, new):
    assert history(*orders).new_series is new


@pytest.mark.parametrize(("orders", "given"), [
    ((order("completed", 120, interval=2, doses=None),), True),   # alternate days, open-ended
    ((order("completed", 120, interval=2, doses=3),), True),
    ((order("completed", 120, interval=2, doses=2),), False),     # two doses are not a loading course
    ((order("completed", 120, interval=7, doses=6),), True),
    ((order("completed", 120, interval=8, doses=6),), False),     # less often than weekly
    ((order("completed", 366, interval=2, doses=6),), False),     # over a year ago
    ((order("cancelled", 120, interval=2, doses=6),), False),
    ((order("active", 120, interval=2, doses=6, antidote=True),), False),
])
def test_loading_given(orders, given):
    assert history(*orders).loading_given is given


def test_course_start_follows_orders_with_no_gap_over_a_year():
    renewals = history(order("active", 30), order("completed", 300), order("completed", 600),
                       order("completed", 1000))   # 400 days before the one after it: an earlier course
    assert renewals.course_start_days_ago == 600


def test_no_course_start_for_a_new_series():
    assert history(order("completed", 400)).course_start_days_ago is None
    assert history().course_start_days_ago is None


def lab(kind: str, days_ago: float, value: float = 900) -> LabFact:
    return LabFact(id=f"lab:{kind}", kind=kind, value=value, unit="ng/L", days_ago=days_ago, date="1 Jan 2026")


@pytest.mark.parametrize(("orders", "days_ago", "on"), [
    ((order("active", 500),), 10, True),             # taken while an order was active
    ((order("active", 500),), 501, False),           # taken before the first order was written
    ((order("completed", 500),), 140, True),         # within a year after a completed order was written
    ((order("completed", 500),), 130, False),        # more than a year after it
    ((order("cancelled", 500),), 10, False),
    ((), 10, False),
])
def test_on_treatment(orders, days_ago, on):
    assert history(*orders).on_treatment(days_ago) is on


def test_marked_labs_flag_only_b12_active_b12_and_mma():
    labs = LabSummary({}, {"b12_total": [lab("b12_total", 10), lab("b12_total", 600)],
                           "hb": [lab("hb", 10, 130)]}, [], False)
    marked = history(order("active", 500)).marked(labs)
    assert [result.on_treatment for result in marked.results["b12_total"]] == [True, False]
    assert marked.latest["b12_total"].on_treatment is True
    assert marked.latest["hb"].on_treatment is False
