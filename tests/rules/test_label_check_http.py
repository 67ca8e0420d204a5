"""The label-check packs and service.order-unreadable through real HTTP: fixtures, a matrix of
units, routes and frequencies, competing cards, and no silent all-clear."""

from __future__ import annotations

import copy
import math
from datetime import date, timedelta

import pytest

from tests.conftest import fixture_request, topics

LABEL_PACKS = ("units.", "route.", "product.", "frequency.", "label.", "service.")
LABEL_SERVICES = ("b12-label-check", "b12-order-sign")
UCUM = "http://unitsofmeasure.org"


def label_cards(response) -> dict[str, str]:
    """rule id → indicator, for the label-check families only."""
    assert response.status_code == 200, response.text
    return {c["source"]["topic"]["code"]: c["indicator"] for c in response.json()["cards"]
            if c["source"]["topic"]["code"].startswith(LABEL_PACKS)}


def with_dosage(fixture: str, **changes) -> dict:
    """A fixture request whose first draft's first dosage has `changes` applied (None removes)."""
    request = copy.deepcopy(fixture_request(fixture))
    dosage = request["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]
    for key, value in changes.items():
        if value is None:
            dosage.pop(key, None)
        else:
            dosage[key] = value
    return request


def dose(value, unit=None, code=None) -> list[dict]:
    quantity = {"value": value} | ({"unit": unit} if unit else {}) | ({"system": UCUM, "code": code} if code else {})
    return [{"doseQuantity": quantity}]


EXPECTED = [
    ("label-10ml-multidose-vial", {"units.volume-exceeds-dose": "warning"}),
    ("label-2000mcg-im", {"units.dose-above-label": "warning"}),
    ("label-cyano-iv", {"route.cyanocobalamin-iv": "warning"}),
    ("label-hydroxo-iv-1mg", {"route.hydroxocobalamin-iv": "warning"}),
    ("label-hydroxo-1000mg-iv", {"product.cyanokit-mixup": "critical"}),
    ("label-cyanokit-b12-patient", {"product.cyanokit-mixup": "critical"}),
    ("label-twice-daily", {"frequency.more-than-daily": "critical"}),
    ("label-unit-U", {"units.unrecognized-unit": "warning"}),
    ("label-vial-unknown-size", {"units.unrecognized-unit": "warning"}),
    ("label-text-only-dose", {"units.mg-mcg-confusion": "critical"}),   # "1000 mg IM monthly", read from text
    ("label-no-route-1000mg", {"units.mg-mcg-confusion": "critical"}),
    ("label-route-injection-1000mg", {"units.mg-mcg-confusion": "critical"}),
    ("label-published-shape-1000mg", {"units.mg-mcg-confusion": "critical"}),
    ("label-leber-cyano", {"label.leber-cyanocobalamin": "warning"}),
    ("label-cobalt-allergy", {"label.cobalt-allergy": "warning"}),   # cobalt contact dermatitis: UK warning
    ("label-lab-units-im-draft", {"units.lab-unit-implausible": "warning"}),
    # quiet: read and judged correct
    ("label-cyanokit-smoke", {}),
    ("label-leber-hydroxo", {}),
    ("label-ampoule-quiet", {}),
    ("label-hydroxo-1mg-q3m-quiet", {}),
    ("label-cyano-1000mcg-monthly-quiet", {}),
    ("label-sandbox-rx-sign", {}),
]


@pytest.mark.parametrize("service", LABEL_SERVICES)
@pytest.mark.parametrize(("fixture", "expected"), EXPECTED)
def test_label_fixture_gets_exactly_its_cards(client, service, fixture, expected):
    response = client.post(f"/cds-services/{service}", json=fixture_request(f"requests/{fixture}.json"))
    assert label_cards(response) == expected


def test_published_shapes_each_get_their_own_critical_card(client):
    response = client.post("/cds-services/b12-label-check",
                           json=fixture_request("requests/label-published-shape-1000mg.json"))
    critical = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "units.mg-mcg-confusion"]
    assert len(critical) == 2 and {c["uuid"] for c in critical}.__len__() == 2


def test_lab_unit_problems_shown_on_patient_view_one_card_per_result(client):
    response = client.post("/cds-services/b12-patient-view",
                           json=fixture_request("requests/label-lab-units-view.json"))
    summaries = [c["summary"] for c in response.json()["cards"]
                 if c["source"]["topic"]["code"] == "units.lab-unit-implausible"]
    assert len(summaries) == 3
    assert any("Hb result 7.9 g/L" in s for s in summaries)
    assert any("MMA result 350 umol/L" in s for s in summaries)
    assert any("B12 result 250 mg" in s for s in summaries)


def test_hb_in_wrong_unit_is_not_severe_anaemia(runtime):
    from datetime import UTC, datetime

    from cds.fhir.gather import gather_record
    request = fixture_request("requests/label-lab-units-view.json")
    record = gather_record(runtime.current.prefetch, request["prefetch"], request["context"], [], lambda: None, 1000)
    facts = runtime.current.normalizer.normalize(record, "patient-view", datetime.now(UTC))
    assert facts.patient.hb is None and facts.patient.severe_anaemia is None
    assert {p.kind for p in facts.problems} == {"hb", "mma", "b12_total"}


MG_SPELLINGS = [("mg", None), (None, "mg"), ("mg", "mg"), ("MG", None), ("milligram", None), ("milligrams", None),
                ("Milligrams", None), ("mg", "mg"), ("milligramme", None)]
MCG_1000_AS = [(1000, "mcg", None), (1000, None, "ug"), (1000, "µg", None), (1000, "ug", None),
               (1000, "microgram", None), (1000, "micrograms", "ug"), (1, "mg", "mg"), (0.001, "g", "g"),
               (1, "mL", "mL"), (1, "ml", None), (1, "cc", None), (1, "milliliter", None)]


@pytest.mark.parametrize(("unit", "code"), MG_SPELLINGS)
@pytest.mark.parametrize("service", LABEL_SERVICES)
def test_1000_mg_in_every_spelling_is_critical(client, service, unit, code):
    request = with_dosage("requests/label-cyano-1000mcg-monthly-quiet.json", doseAndRate=dose(1000, unit, code))
    assert label_cards(client.post(f"/cds-services/{service}", json=request)) == {"units.mg-mcg-confusion": "critical"}


@pytest.mark.parametrize(("value", "unit", "code"), MCG_1000_AS)
def test_1000_mcg_in_every_spelling_is_quiet(client, value, unit, code):
    request = with_dosage("requests/label-cyano-1000mcg-monthly-quiet.json", doseAndRate=dose(value, unit, code))
    assert label_cards(client.post("/cds-services/b12-label-check", json=request)) == {}


@pytest.mark.parametrize(("unit", "code"), [
    ("{pill}", None), (None, "{pill}"), ("{tbl}", "{tbl}"), (None, "{capsule}"), ("{dose}", None), (None, "{#}"),
    ("[U]", "[U]"), ("IU", None), ("units", None), ("U", "U"), ("drops", None), ("puffs", None), ("banana", None),
    (None, None)])
def test_injection_dose_in_a_unit_that_is_not_mass_or_volume_is_uncheckable(client, unit, code):
    request = with_dosage("requests/label-cyano-1000mcg-monthly-quiet.json", doseAndRate=dose(1000, unit, code))
    assert label_cards(client.post("/cds-services/b12-label-check", json=request)) == {
        "units.unrecognized-unit": "warning"}


@pytest.mark.parametrize(("route", "expected"), [
    ({"coding": [{"system": "http://snomed.info/sct", "code": "78421000"}]}, {}),
    ({"coding": [{"system": "http://snomed.info/sct", "code": "34206005"}]}, {}),
    ({"text": "deep subcutaneous"}, {}),
    ({"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}, {"route.cyanocobalamin-iv": "warning"}),
    ({"text": "IV push"}, {"route.cyanocobalamin-iv": "warning"}),
    (None, {}),
    ({"text": "Injection"}, {}),
])
def test_each_route(client, route, expected):
    request = with_dosage("requests/label-cyano-1000mcg-monthly-quiet.json", route=route)
    assert label_cards(client.post("/cds-services/b12-label-check", json=request)) == expected


@pytest.mark.parametrize(("repeat", "critical"), [
    ({"frequency": 1, "period": 1, "periodUnit": "mo"}, False),
    ({"frequency": 1, "period": 3, "periodUnit": "mo"}, False),
    ({"frequency": 1, "period": 1, "periodUnit": "wk"}, False),
    ({"frequency": 3, "period": 1, "periodUnit": "wk"}, False),
    ({"frequency": 1, "period": 2, "periodUnit": "d"}, False),
    ({"frequency": 1, "period": 1, "periodUnit": "d"}, False),
    ({"frequency": 2, "period": 1, "periodUnit": "d"}, True),
    ({"frequency": 3, "period": 1, "periodUnit": "d"}, True),
    ({"frequency": 1, "period": 8, "periodUnit": "h"}, True),
    ({"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"}, True),
])
def test_frequencies_from_monthly_to_three_times_a_day(client, repeat, critical):
    request = with_dosage("requests/label-cyano-1000mcg-monthly-quiet.json", timing={"repeat": repeat})
    assert label_cards(client.post("/cds-services/b12-label-check", json=request)) == (
        {"frequency.more-than-daily": "critical"} if critical else {})


def test_volume_card_states_the_arithmetic(client):
    response = client.post("/cds-services/b12-label-check",
                           json=fixture_request("requests/label-10ml-multidose-vial.json"))
    card, = response.json()["cards"]
    assert "10 mL × 1,000 mcg/mL = 10,000 mcg" in card["detail"]
    assert "usual dose is 1,000 mcg, which is 1 mL" in " ".join(card["detail"].split())


def test_unreadable_card_names_what_could_not_be_read(client):
    response = client.post("/cds-services/b12-label-check", json=fixture_request("requests/rev3-text-as-directed.json"))
    card, = response.json()["cards"]
    assert "'as directed'" in card["detail"] and "did not run" in card["detail"]


def test_lower_cards_offer_no_change_to_a_draft_with_a_critical_card(client):
    request = with_dosage("requests/neuro-monthly-im-draft.json", doseAndRate=dose(1000, "mg", "mg"))
    cards = {c["source"]["topic"]["code"]: c for c in client.post("/cds-services/b12-order-select",
                                                                   json=request).json()["cards"]}
    assert cards["units.mg-mcg-confusion"]["indicator"] == "critical"
    assert cards["units.mg-mcg-confusion"]["suggestions"]          # the critical card keeps its correction
    loading = cards["deficiency.neuro-or-anaemia-needs-loading"]   # the card stays, its update goes
    assert all(a["type"] == "create" for s in loading.get("suggestions", []) for a in s["actions"])


def test_without_a_critical_card_the_update_is_offered(client):
    cards = {c["source"]["topic"]["code"]: c for c in client.post(
        "/cds-services/b12-order-select", json=fixture_request("requests/neuro-monthly-im-draft.json")).json()["cards"]}
    loading = cards["deficiency.neuro-or-anaemia-needs-loading"]
    actions = [a["type"] for s in loading["suggestions"] for a in s["actions"]]
    assert "update" in actions


def test_suggested_orders_carry_the_rule_as_reason(client):
    response = client.post("/cds-services/b12-label-check", json=fixture_request("requests/label-cyano-iv.json"))
    card, = response.json()["cards"]
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["reasonCode"] == [{"text": "Suggested by Cobalt CDS rule route.cyanocobalamin-iv"}]
    assert resource["dosageInstruction"][0]["route"]["coding"][0]["code"] == "78421000"
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1000  # dose kept


def test_independent_additions_may_all_be_chosen(client):
    response = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/no-labs-im-draft.json"))
    card = next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "deficiency.not-confirmed")
    assert len(card["suggestions"]) == 2 and card["selectionBehavior"] == "any"


def test_card_text_follows_a_tuned_threshold(rules_copy, settings):
    from fastapi.testclient import TestClient

    from cds.api import create_app
    from cds.runtime import RuleRuntime
    pack = rules_copy / "packs" / "units.yaml"
    pack.write_text(pack.read_text().replace("label_single_dose_mcg: {value: 1000",
                                             "label_single_dose_mcg: {value: 1500"))
    client = TestClient(create_app(settings, RuleRuntime(rules_copy)))
    response = client.post("/cds-services/b12-label-check", json=fixture_request("requests/label-2000mcg-im.json"))
    card, = response.json()["cards"]
    assert "1,500 mcg" in card["summary"] and "1,000" not in card["summary"]


@pytest.mark.parametrize(("fixture", "timing", "then"), [
    ("requests/neuro-monthly-im-draft.json", {"frequency": 1, "period": 2, "periodUnit": "d", "count": 11},
     {"frequency": 1, "period": 2, "periodUnit": "mo"}),
    ("requests/rev2-anaemia-only-monthly-draft.json", {"frequency": 3, "period": 1, "periodUnit": "wk", "count": 6},
     {"frequency": 1, "period": 3, "periodUnit": "mo"}),
])
def test_loading_suggestion_is_the_regimen_that_fits_the_finding(client, fixture, timing, then):
    """The loading course replaces the draft, and the maintenance that follows starts the day after it ends."""
    request = fixture_request(fixture)
    response = client.post(f"/cds-services/b12-{request['hook']}", json=request)
    card = next(c for c in response.json()["cards"]
                if c["source"]["topic"]["code"] == "deficiency.neuro-or-anaemia-needs-loading")
    suggestion, = card["suggestions"]
    course, maintenance = (action["resource"]["dosageInstruction"][0]["timing"]["repeat"]
                           for action in suggestion["actions"])
    assert [action["type"] for action in suggestion["actions"]] == ["update", "create"]
    start = date.fromisoformat(course.pop("boundsPeriod")["start"])
    assert course == timing
    interval = timing["period"] * {"d": 1, "wk": 7}[timing["periodUnit"]] / timing["frequency"]
    ends = start + timedelta(days=math.ceil(timing["count"] * interval))
    assert date.fromisoformat(maintenance.pop("boundsPeriod")["start"]) == ends and maintenance == then
    assert "\n\n**Neurological findings:**" in card["detail"]


def test_leber_switch_is_offered_for_injections_only(client):
    oral = with_dosage("requests/label-leber-cyano.json",
                       route={"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]})
    card, = [c for c in client.post("/cds-services/b12-label-check", json=oral).json()["cards"]]
    assert card["source"]["topic"]["code"] == "label.leber-cyanocobalamin" and "suggestions" not in card
    injected = client.post("/cds-services/b12-label-check", json=fixture_request("requests/label-leber-cyano.json"))
    assert injected.json()["cards"][0]["suggestions"]


def test_sandbox_draft_with_category_corrected_reads_the_same(client):
    """The sandbox's draft once `category` is a list (the shape that crashed on {pill} before)."""
    request = copy.deepcopy(fixture_request("requests/label-sandbox-rx-sign.json"))
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["category"] = [draft["category"]]
    for service, expected in (("b12-label-check", set()),
                              ("b12-order-sign", {"deficiency.neuro-or-anaemia-needs-loading"})):
        response = client.post(f"/cds-services/{service}", json=request)
        assert response.status_code == 200 and set(topics(response)) == expected


RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.mark.parametrize(("coding", "expected"), [
    ({"system": RX, "code": "309594"}, {}),
    ({"system": RX, "code": "317106"}, {}),
    ({"system": RX, "code": "103011"}, {}),
    ({"system": RX, "code": "103010"}, {}),
    ({"system": RX, "code": "2001499"}, {}),
    ({"system": "http://hl7.org/fhir/sid/ndc", "code": "50633-310-11"}, {"product.cyanokit-mixup": "critical"}),
    ({"display": "Cytamen 1000micrograms/1ml solution for injection ampoules"}, {}),
    ({"display": "Neo-Cytamen 1000micrograms/1ml solution for injection ampoules"}, {}),
    ({"display": "Cobalin-H 1mg/1ml solution for injection ampoules"}, {}),
])
def test_each_product_at_1000_mcg_im_monthly(client, coding, expected):
    """1000 mcg IM monthly is a correct label for every deficiency product; CYANOKIT is the antidote."""
    request = with_dosage("requests/label-cyano-1000mcg-monthly-quiet.json")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = {"coding": [coding]} if "code" in coding else {"text": coding["display"]}
    assert label_cards(client.post("/cds-services/b12-label-check", json=request)) == expected


@pytest.mark.parametrize("medication", [
    {"coding": {"system": RX, "code": "309594"}},          # coding as an object
    {"coding": [{"system": RX, "code": 309594}]},           # the code as a number
])
def test_sloppy_product_coding_still_gets_the_critical_card(client, medication):
    request = with_dosage("requests/unit-error-1000mg.json")
    request["context"]["draftOrders"]["entry"][0]["resource"]["medicationCodeableConcept"] = medication
    assert label_cards(client.post("/cds-services/b12-label-check", json=request)) == {
        "units.mg-mcg-confusion": "critical"}
