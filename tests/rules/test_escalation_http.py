"""The escalation pack over real HTTP: the comparison each card states, and the facts behind it."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_request
from tests.rules.test_rev2_http import ORDER

RULES = ("escalation.increase-without-review", "escalation.maintenance-above-label", "escalation.early-refill",
         "escalation.self-administered-increase")


def escalation_cards(client, fixture: str, service: str) -> dict[str, dict]:
    from tests.conftest import as_hook
    request = fixture_request(f"requests/{fixture}.json")
    hook = service.removeprefix("b12-")
    if request["hook"] != hook and hook != "patient-view":
        request = as_hook(request, hook)
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    return {c["source"]["topic"]["code"]: c for c in response.json()["cards"] if c["source"]["topic"]["code"] in RULES}


@pytest.mark.parametrize("service", ORDER)
def test_increase_states_current_draft_and_ratio(client, service):
    card = escalation_cards(client, "esc-weekly-draft", service)["escalation.increase-without-review"]
    detail = " ".join(card["detail"].split())
    assert "**Current:** 1 mg IM every 12 weeks (333.3 mcg per 28 days)" in detail
    assert "**Draft:** 1 mg IM weekly (4,000 mcg per 28 days) = **12× the current rate**" in detail
    assert card["indicator"] == "warning"
    assert {r["code"] for r in card["overrideReasons"]} >= {"symptoms-reviewed", "specialist-advice", "loading-phase"}


@pytest.mark.parametrize("service", ORDER)
def test_early_refill_states_the_supply(client, service):
    card = escalation_cards(client, "esc-early-refill", service)["escalation.early-refill"]
    assert "the last supply, issued 20 days ago, should last 24 weeks" in card["summary"]
    assert "2 mL of 1 mg every 12 weeks" in card["detail"]
    assert "supply-lost" in {r["code"] for r in card["overrideReasons"]}


@pytest.mark.parametrize(("fixture", "service"), [("esc-self-reported-view", "b12-patient-view"),
                                                  *[("esc-self-reported-renewal", s) for s in ORDER]])
def test_self_reported_increase_on_patient_view_and_order_hooks(client, fixture, service):
    cards = escalation_cards(client, fixture, service)
    assert set(cards) == {"escalation.self-administered-increase"}
    detail = " ".join(cards["escalation.self-administered-increase"]["detail"].split())
    assert "1 mg IM weekly (4,000 mcg per 28 days)" in detail and "1 mg IM every 12 weeks" in detail


@pytest.mark.parametrize("fixture", ["esc-weekly-draft-with-reason", "esc-weekly-draft-reviewed",
                                     "esc-new-series-loading", "esc-hydroxo-2-monthly",
                                     "esc-hydroxo-4-weekly-with-reason", "esc-cyano-monthly-renewal",
                                     "esc-refill-on-time", "esc-refill-after-entered-in-error"])
@pytest.mark.parametrize("service", ORDER)
def test_supervised_or_on_time_orders_get_no_escalation_card(client, fixture, service):
    assert escalation_cards(client, fixture, service) == {}


def test_report_matching_the_prescription_is_quiet(client):
    assert escalation_cards(client, "esc-report-matches-view", "b12-patient-view") == {}


def test_patient_view_shows_only_the_self_reported_rule(runtime):
    service = runtime.current.rulebook.services["b12-patient-view"]
    rules = [r for r in runtime.current.rulebook.rules() if r.pack == "escalation" and r.pack in service.packs]
    assert [r.id for r in rules if "patient-view" in r.hooks] == ["escalation.self-administered-increase"]
