"""Clinical revision 2 over real HTTP, on every order service and patient-view (issue 8).

The rev2-* fixtures are realistic histories (a year or more of MedicationRequests). Each case
posts one, sometimes with one fact of its history changed, and checks the rev 2 behaviour; a case
with its change undone is its control, so every assertion can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import as_hook, fixture_request
from tests.rules.test_rule_boundaries_http import Request, _days_ago, by_id, combined, lab, observation_dated

ORDER_SERVICES = {"b12-order-select": "order-select", "b12-order-sign": "order-sign",
                  "b12-medication-prescribe": "medication-prescribe"}
VIEW = "b12-patient-view"


def post(client, fixture: str, service: str, change: Callable[[Request], None] | None = None) -> list[dict]:
    """The cards of `fixture` posted to `service` (on that service's hook), after `change`."""
    request = fixture_request(f"requests/{fixture}.json")
    if change is not None:
        change(request)
    if service in ORDER_SERVICES and request["hook"] != ORDER_SERVICES[service]:
        request = as_hook(request, ORDER_SERVICES[service])
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def cards_of(cards: list[dict], rule: str) -> list[dict]:
    return [card for card in cards if card["source"]["topic"]["code"] == rule]


def unchanged(request: Request) -> None:
    """The fixture as it is (the control of a changed case)."""


def without_condition(condition_id: str) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        entries = request["prefetch"]["conditions"]["entry"]
        kept = [e for e in entries if e["resource"]["id"] != condition_id]
        assert len(kept) < len(entries), condition_id
        request["prefetch"]["conditions"]["entry"] = kept
    return change


def order_changed(order_id: str, **fields: Any) -> Callable[[Request], None]:
    """Change fields of one MedicationRequest of the history; `count` sets timing.repeat.count."""
    def change(request: Request) -> None:
        order = by_id(request, "medications", order_id)
        changes = dict(fields)
        if "count" in changes:
            order["dosageInstruction"][0]["timing"]["repeat"]["count"] = changes.pop("count")
        order.update(changes)
    return change


def every_order(**fields: Any) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        for entry in request["prefetch"]["medications"]["entry"]:
            entry["resource"].update(fields)
    return change


def as_patient_view(request: Request) -> None:
    """The same patient opened in the chart: no drafts."""
    request["hook"] = "patient-view"
    request["context"].pop("draftOrders")


def added_lab(loinc: str, value: float, unit: str, days_ago: float) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        request["prefetch"]["observations"]["entry"].append({"resource": {
            "resourceType": "Observation", "id": f"obs-added-{loinc}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "effectiveDateTime": _days_ago(days_ago),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
    return change


def observation_value(observation_id: str, value: float) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        by_id(request, "observations", observation_id)["valueQuantity"]["value"] = value
    return change


ORDER, BOTH = tuple(ORDER_SERVICES), (*ORDER_SERVICES, VIEW)
LOADING = "deficiency.neuro-or-anaemia-needs-loading"
NOT_CONFIRMED = "deficiency.not-confirmed"
UNLIKELY = "deficiency.unlikely-normal-level"
LOW_UNTREATED = "deficiency.low-untreated"
ORAL_TOO_LOW = "deficiency.malabsorption-oral-dose-too-low"
ORAL_OPTION = "deficiency.mild-dietary-oral-option"
FOLIC = "deficiency.folic-acid-alone"
NITROUS = "deficiency.nitrous-oxide-check-mma"
POTASSIUM = "monitoring.potassium-severe-anaemia"
REVIEW = "monitoring.review-due"

# (fixture, services, change, rule, fires)
CASES = [
    # A renewal is not a new series: previous order completed this year, no B12 test in the last year (the
    # coded pernicious anaemia, itself a confirmation since revision 3, taken out to see the series logic).
    ("rev2-pa-renewal-draft", ORDER, without_condition("cond-pa"), NOT_CONFIRMED, False),
    ("rev2-pa-renewal-draft", ORDER, combined(without_condition("cond-pa"),
                                              order_changed("mr-maint-2025", authoredOn=_days_ago(366))),
     NOT_CONFIRMED, True),
    ("rev2-pa-renewal-draft", ORDER, combined(without_condition("cond-pa"),
                                              order_changed("mr-maint-2025", authoredOn=_days_ago(364))),
     NOT_CONFIRMED, False),
    ("rev2-pa-renewal-draft", ORDER, combined(without_condition("cond-pa"),
                                              order_changed("mr-maint-2025", status="cancelled")), NOT_CONFIRMED, True),
    ("rev2-pa-renewal-draft", ORDER, combined(without_condition("cond-pa"),
                                              order_changed("mr-maint-2025", status="entered-in-error")),
     NOT_CONFIRMED, True),
    # Revision 3: the coded pernicious anaemia confirms the deficiency of a new series too.
    ("rev2-pa-renewal-draft", ORDER, order_changed("mr-maint-2025", authoredOn=_days_ago(366)), NOT_CONFIRMED, False),
    # An active order keeps the series going whatever its age.
    ("rev2-pa-renewal-draft", ORDER, combined(without_condition("cond-pa"), order_changed(
        "mr-maint-2025", status="active", authoredOn=_days_ago(900))), NOT_CONFIRMED, False),
    # A B12 of 900 taken during treatment is not diagnostic: no "deficiency unlikely" on restarting ...
    ("rev2-on-treatment-900-draft", ORDER, unchanged, UNLIKELY, False),
    # ... the same 900 with no treatment history (void orders) is a normal level.
    ("rev2-on-treatment-900-draft", ORDER, every_order(status="entered-in-error"), UNLIKELY, True),
    # An on-treatment low result still counts as low (a lapsed patient): deficiency untreated.
    ("rev2-on-treatment-900-draft", (VIEW,), as_patient_view, LOW_UNTREATED, False),
    ("rev2-on-treatment-900-draft", (VIEW,), combined(as_patient_view, observation_value("obs-b12-ontx", 150)),
     LOW_UNTREATED, True),
    # A finished loading course: the every-2-months maintenance draft needs no loading warning ...
    ("rev2-neuro-maintenance-draft", ORDER, unchanged, LOADING, False),
    # ... unless the course had fewer than 3 doses, or was over a year ago, or was cancelled.
    ("rev2-neuro-maintenance-draft", ORDER, order_changed("mr-neuro-loading", count=2), LOADING, True),
    ("rev2-neuro-maintenance-draft", ORDER, order_changed("mr-neuro-loading", count=3), LOADING, False),
    ("rev2-neuro-maintenance-draft", ORDER, order_changed("mr-neuro-loading", authoredOn=_days_ago(366)), LOADING,
     True),
    ("rev2-neuro-maintenance-draft", ORDER, order_changed("mr-neuro-loading", status="cancelled"), LOADING, True),
    # Bariatric prevention dose with a normal B12: not too low; with an indeterminate B12 it is.
    ("rev2-bariatric-prevention-oral", ORDER, unchanged, ORAL_TOO_LOW, False),
    ("rev2-bariatric-prevention-oral", ORDER, observation_value("obs-b12-2026", 350), ORAL_TOO_LOW, True),
    # No B12 in the last year is unknown, and unknown is no reason to relax.
    ("rev2-bariatric-prevention-oral", ORDER, observation_dated("obs-b12-2026", 364), ORAL_TOO_LOW, False),
    ("rev2-bariatric-prevention-oral", ORDER, observation_dated("obs-b12-2026", 366), ORAL_TOO_LOW, True),
    # The oral option needs a recorded dietary cause.
    ("dietary-im-draft", ORDER, unchanged, ORAL_OPTION, True),
    ("dietary-im-draft", ORDER, without_condition("cond-vegan-diet"), ORAL_OPTION, False),
    # Nitrous oxide: a normal B12 is not "deficiency unlikely"; check MMA until one is on record.
    ("rev2-nitrous-oxide-im-draft", ORDER, unchanged, UNLIKELY, False),
    ("rev2-nitrous-oxide-im-draft", ORDER, without_condition("cond-n2o"), UNLIKELY, True),
    ("rev2-nitrous-oxide-im-draft", ORDER, without_condition("cond-n2o"), NITROUS, False),
    ("rev2-nitrous-oxide-im-draft", ORDER, added_lab("13965-9", 12, "umol/L", 89), NITROUS, False),
    ("rev2-nitrous-oxide-im-draft", ORDER, added_lab("13964-2", 0.2, "umol/L", 91), NITROUS, True),
    # With nitrous oxide, a raised MMA or homocysteine makes the B12 status low whatever the B12.
    ("rev2-nitrous-oxide-mma-view", (VIEW,), unchanged, LOW_UNTREATED, True),
    ("rev2-nitrous-oxide-mma-view", (VIEW,), without_condition("cond-n2o"), LOW_UNTREATED, False),
    ("rev2-nitrous-oxide-view", (VIEW,), added_lab("13965-9", 16, "umol/L", 5), LOW_UNTREATED, True),
    ("rev2-nitrous-oxide-view", (VIEW,), added_lab("13965-9", 15, "umol/L", 5), LOW_UNTREATED, False),
    # Pregnancy: the active B12 (78, normal) decides, not the physiologically low total (165).
    ("rev2-pregnant-active-b12-view", (VIEW,), unchanged, LOW_UNTREATED, False),
    ("rev2-pregnant-active-b12-view", (VIEW,), without_condition("cond-pregnant"), LOW_UNTREATED, True),
    # Folic acid alone: macrocytosis (MCV above 100) or significant anaemia, B12 not normal, no B12 cover.
    ("rev2-folic-acid-alone", ORDER, lab("718-7", value=110), FOLIC, True),                 # MCV 108 alone
    ("rev2-folic-acid-alone", ORDER, combined(lab("718-7", value=110), lab("787-2", value=100)), FOLIC, False),
    # Revision 3: significant anaemia counts only with no MCV to tell (a normocytic Hb is not megaloblastic).
    ("rev2-folic-acid-alone", ORDER, combined(lab("718-7", value=109), lab("787-2", value=100)), FOLIC, False),
    ("rev2-folic-acid-alone", ORDER, added_lab("2132-9", 351, "ng/L", 3), FOLIC, False),   # B12 normal
    ("rev2-folic-acid-alone", ORDER, added_lab("2132-9", 200, "ng/L", 3), FOLIC, True),    # indeterminate
    # Severe anaemia: potassium on a new series or on loading again after stopped therapy.
    ("rev2-relapse-loading-draft", ORDER, unchanged, POTASSIUM, True),
    ("rev2-pa-renewal-draft", ORDER, added_lab("718-7", 75, "g/L", 2), POTASSIUM, False),   # maintenance renewal
    # Review at 3 months then yearly, never every 90 days for life.
    ("rev2-review-3-months-view", (VIEW,), unchanged, REVIEW, True),
    ("rev2-review-done-view", (VIEW,), unchanged, REVIEW, False),
    ("rev2-review-done-view", (VIEW,), observation_dated("obs-hb-review", 366), REVIEW, True),
    ("rev2-review-yearly-view", (VIEW,), unchanged, REVIEW, True),
    ("rev2-review-pregnant-view", (VIEW,), unchanged, REVIEW, True),
    ("rev2-review-pregnant-view", (VIEW,), without_condition("cond-pregnant"), REVIEW, False),
]


def _cases() -> list:
    return [pytest.param(fixture, service, change, rule, fires,
                         id=f"{index}-{fixture}-{rule.split('.')[1]}-{service}-{'fires' if fires else 'quiet'}")
            for index, (fixture, services, change, rule, fires) in enumerate(CASES) for service in services]


@pytest.mark.parametrize(("fixture", "service", "change", "rule", "fires"), _cases())
def test_rev2_behaviour(client, fixture, service, change, rule, fires):
    assert bool(cards_of(post(client, fixture, service, change), rule)) is fires


# Correct ongoing regimens: renewals, maintenance after loading, prevention doses, reviewed patients.
ONGOING_REGIMENS = [
    ("rev2-pa-renewal-draft", ORDER), ("rev2-neuro-maintenance-draft", ORDER),
    ("rev2-bariatric-prevention-oral", ORDER), ("rev2-folic-acid-on-b12", ORDER),
    ("rev2-pa-renewal-view", (VIEW,)), ("rev2-review-done-view", (VIEW,)),
    ("maintenance-patient-view", (VIEW,)), ("mon-maintenance-recent-hb-view", (VIEW,)),
]


@pytest.mark.parametrize(("fixture", "service"), [
    pytest.param(fixture, service, id=f"{fixture}-{service}") for fixture, services in ONGOING_REGIMENS
    for service in services])
def test_correct_ongoing_regimen_gets_no_warning_or_critical_card(client, fixture, service):
    cards = post(client, fixture, service)
    assert [(c["source"]["topic"]["code"], c["indicator"]) for c in cards
            if c["indicator"] in ("warning", "critical")] == []


@pytest.mark.parametrize("service", ORDER)
def test_anaemia_without_neurological_signs_is_offered_its_own_bounded_regimen(client, service):
    [card] = cards_of(post(client, "rev2-anaemia-only-monthly-draft", service), LOADING)
    [suggestion] = card["suggestions"]          # only the regimen that fits the finding
    anaemia, maintenance = suggestion["actions"]
    assert (anaemia["type"], maintenance["type"]) == ("update", "create")
    dosage = anaemia["resource"]["dosageInstruction"][0]
    repeat = {k: v for k, v in dosage["timing"]["repeat"].items() if k != "boundsPeriod"}
    assert repeat == {"frequency": 3, "period": 1, "periodUnit": "wk", "count": 6}
    assert dosage["route"]["coding"][0]["code"] == "78421000"
    assert "every 3 months" in maintenance["resource"]["dosageInstruction"][0]["text"]


@pytest.mark.parametrize("service", ORDER)
def test_neurological_signs_are_offered_alternate_day_loading(client, service):
    [card] = cards_of(post(client, "neuro-monthly-im-draft", service), LOADING)
    [suggestion] = card["suggestions"]
    course, maintenance = (action["resource"]["dosageInstruction"][0] for action in suggestion["actions"])
    assert {k: v for k, v in course["timing"]["repeat"].items() if k != "boundsPeriod"} == {
        "frequency": 1, "period": 2, "periodUnit": "d", "count": 11}
    assert "every 2 months" in maintenance["text"]


def test_results_taken_on_treatment_are_marked_in_card_text(client):
    [card] = cards_of(post(client, "rev2-review-yearly-view", VIEW), REVIEW)
    assert "B12 900 ng/L (on treatment)" in card["detail"]
    assert "Hb 133 g/L on" in card["detail"] and "Hb 133 g/L (on treatment)" not in card["detail"]


@pytest.mark.parametrize("service", ORDER)
def test_folic_acid_alone_card_names_the_draft_and_offers_a_b12_test(client, service):
    [card] = cards_of(post(client, "rev2-folic-acid-alone", service), FOLIC)
    assert card["indicator"] == "warning"
    assert "**Drafted:** folic acid 5 mg tablets." in card["detail"]
    [suggestion] = card["suggestions"]
    resource = suggestion["actions"][0]["resource"]
    assert (resource["resourceType"], resource["code"]["coding"][0]["code"]) == ("ServiceRequest", "2132-9")


@pytest.mark.parametrize("service", BOTH)
def test_nitrous_oxide_card_offers_mma_once_per_request(client, service):
    fixture = "rev2-nitrous-oxide-view" if service == VIEW else "rev2-nitrous-oxide-im-draft"
    [card] = cards_of(post(client, fixture, service), NITROUS)
    assert card["indicator"] == "info"
    assert card["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0]["code"] == "13964-2"


@pytest.mark.parametrize("service", ORDER)
def test_hb_written_in_g_per_dl_but_labelled_g_per_l_is_not_severe_anaemia(client, service):
    """Hb 7.9 labelled g/L is a lab unit problem (rev 2 bound), not severe anaemia: the card says so."""
    topics = [c["source"]["topic"]["code"] for c in post(client, "rev2-hb-g-per-l-draft", service)]
    assert POTASSIUM not in topics and LOADING not in topics
    assert "units.lab-unit-implausible" in topics


def test_unselected_b12_draft_still_counts_as_cover_on_order_select(client):
    """'No draft B12 order' means none in draftOrders, selected or not (clinical-rules.md §1)."""
    request = as_hook(fixture_request("requests/rev2-folic-acid-with-b12.json"), "order-select")
    request["context"]["selections"] = ["MedicationRequest/draft-folic"]
    assert FOLIC not in [c["source"]["topic"]["code"] for c in
                         client.post("/cds-services/b12-order-select", json=request).json()["cards"]]
    alone = as_hook(fixture_request("requests/rev2-folic-acid-alone.json"), "order-select")
    folic_id = alone["context"]["draftOrders"]["entry"][0]["resource"]["id"]
    alone["context"]["selections"] = [f"MedicationRequest/{folic_id}"]
    assert FOLIC in [c["source"]["topic"]["code"] for c in
                     client.post("/cds-services/b12-order-select", json=alone).json()["cards"]]
