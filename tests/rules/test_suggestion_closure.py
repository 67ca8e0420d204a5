"""Suggestions are complete, correct orders (clinical-rules.md §1 "Suggestions", principle 5): over every
fixture request and over generated drafts, each suggestion's actions applied to the request's drafts give
orders the service itself finds no new fault with, and every order a suggestion writes is a valid FHIR R4
MedicationRequest with dose, route, timing and a dispense quantity. Everything runs over real HTTP."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.api import create_app
from cds.fixtures import fixture_header
from tests.conftest import FIXTURES, FUZZ_EXAMPLES, fixture_request, settings_for

ORDER_HOOKS = {"order-sign": "b12-order-sign", "order-select": "b12-order-select",
               "medication-prescribe": "b12-medication-prescribe"}
REQUESTS = sorted(str(path.relative_to(FIXTURES)) for folder in ("requests", "services", "panel", "rev3")
                  for path in (FIXTURES / folder).glob("*.json")
                  if fixture_request(str(path.relative_to(FIXTURES)))["hook"] in ORDER_HOOKS)
SERIOUS = ("warning", "critical")


@pytest.fixture(scope="module")
def clients(profile_runtimes, tmp_path_factory) -> dict[str, TestClient]:
    return {name: TestClient(create_app(settings_for(tmp_path_factory.mktemp(name)),
                                        runtime)) for name, runtime in profile_runtimes.items()}


def _drafts(request: dict[str, Any]) -> list[dict[str, Any]]:
    context = request["context"]
    return (context.get("draftOrders") or context.get("medications"))["entry"]


def _serious(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {card["uuid"] for card in response.json()["cards"] if card["indicator"] in SERIOUS}


def _applied(request: dict[str, Any], suggestion: dict[str, Any]) -> dict[str, Any]:
    """The request with the suggestion accepted: updates replace their draft, deletes remove it, creates
    are added (with an id, as the EHR would give them) and selected on order-select."""
    request = copy.deepcopy(request)
    entries = _drafts(request)
    context = request["context"]
    for number, action in enumerate(suggestion["actions"]):
        if action["type"] == "delete":
            kind, _, draft_id = action["resourceId"].partition("/")
            entries[:] = [e for e in entries if (e["resource"]["resourceType"], e["resource"].get("id"))
                          != (kind, draft_id)]
            continue
        resource = copy.deepcopy(action["resource"])
        if action["type"] == "update":
            entries[:] = [{"resource": resource} if e["resource"].get("id") == resource["id"] else e for e in entries]
        else:
            resource["id"] = f"accepted-{number}"
            entries.append({"resource": resource})
            if context.get("selections") is not None:
                context["selections"].append(f"{resource['resourceType']}/{resource['id']}")
    return request


def _check_order(resource: dict[str, Any]) -> None:
    """A complete order: valid FHIR R4, and every dosage with a dose, a route and a timing; a supply."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    if resource["resourceType"] != "MedicationRequest":
        return
    assert resource.get("dispenseRequest", {}).get("quantity", {}).get("value"), resource
    for dosage in resource["dosageInstruction"]:
        assert dosage["doseAndRate"][0]["doseQuantity"]["value"] > 0, resource
        assert dosage["route"]["coding"], resource
        assert dosage["timing"]["repeat"], resource


def _closure_problems(client: TestClient, request: dict[str, Any]) -> list[str]:
    """Each suggestion accepted in turn: the new warning and critical cards it brings (none expected)."""
    service = ORDER_HOOKS[request["hook"]]
    response = client.post(f"/cds-services/{service}", json=request)
    before = _serious(response)
    problems = []
    for card in response.json()["cards"]:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if "resource" in action:
                    _check_order(action["resource"])
            after = client.post(f"/cds-services/{service}", json=_applied(request, suggestion))
            new = [c for c in after.json()["cards"] if c["uuid"] in _serious(after) - before]
            problems += [f"{card['source']['topic']['code']} '{suggestion['label']}' → {c['indicator']} "
                         f"{c['source']['topic']['code']}: {c['summary']}" for c in new]
    return problems


@pytest.mark.parametrize("fixture", REQUESTS)
def test_every_suggestion_of_every_fixture_is_a_complete_order_the_service_finds_no_fault_with(clients, fixture):
    profile = fixture_header(FIXTURES / fixture).get("profile", "uk")
    assert _closure_problems(clients[profile], fixture_request(fixture)) == []


def test_the_fixtures_offer_the_suggestions_the_property_is_about(clients):
    kinds = set()
    for fixture in REQUESTS:
        request = fixture_request(fixture)
        response = clients["uk"].post(f"/cds-services/{ORDER_HOOKS[request['hook']]}", json=request)
        kinds |= {(action["type"], action.get("resource", {}).get("resourceType", "MedicationRequest"))
                  for card in response.json()["cards"] for s in card.get("suggestions", []) for action in s["actions"]}
    assert {("update", "MedicationRequest"), ("create", "MedicationRequest"), ("delete", "MedicationRequest"),
            ("create", "ServiceRequest")} <= kinds


PATIENTS = ["requests/neuro-oral-draft.json", "requests/def-pernicious-loading-draft.json",
            "requests/dietary-im-draft.json", "requests/rev2-anaemia-only-monthly-draft.json",
            "requests/label-leber-cyano.json", "requests/esc-weekly-draft.json"]
PRODUCTS = [{"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "317106"}],
             "text": "hydroxocobalamin 1000 MCG/ML Injectable Solution"},
            {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "309594"}],
             "text": "cyanocobalamin 1000 MCG/ML Injectable Solution"},
            {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "309593"}],
             "text": "Vitamin B 12 1 MG Oral Tablet"}]
ROUTES = {"im": "78421000", "sc": "34206005", "iv": "47625008", "oral": "26643006", "nasal": "46713006"}


@st.composite
def drafts(draw: st.DrawFn) -> dict[str, Any]:
    """A B12 draft of any product, dose, route and schedule (sane and not), with or without a supply."""
    dose = draw(st.sampled_from([(50, "ug"), (1, "mg"), (1000, "ug"), (2000, "ug"), (1000, "mg"), (1, "mL"),
                                 (10, "mL")]))
    repeat = draw(st.sampled_from([{"frequency": 1, "period": 1, "periodUnit": "d"},
                                   {"frequency": 1, "period": 2, "periodUnit": "d", "count": 6},
                                   {"frequency": 3, "period": 1, "periodUnit": "wk", "count": 6},
                                   {"frequency": 1, "period": 1, "periodUnit": "wk"},
                                   {"frequency": 1, "period": 1, "periodUnit": "mo"},
                                   {"frequency": 1, "period": 3, "periodUnit": "mo"},
                                   {"frequency": 2, "period": 1, "periodUnit": "d"}]))
    dosage: dict[str, Any] = {"timing": {"repeat": repeat},
                              "doseAndRate": [{"doseQuantity": {"value": dose[0], "unit": dose[1],
                                                                "system": "http://unitsofmeasure.org",
                                                                "code": dose[1]}}]}
    route = draw(st.sampled_from([*ROUTES, None]))
    if route:
        dosage["route"] = {"coding": [{"system": "http://snomed.info/sct", "code": ROUTES[route]}]}
    draft: dict[str, Any] = {"resourceType": "MedicationRequest", "id": "generated", "status": "draft",
                             "intent": "order", "subject": {"reference": "Patient/p"},
                             "medicationCodeableConcept": draw(st.sampled_from(PRODUCTS)),
                             "dosageInstruction": [dosage]}
    if draw(st.booleans()):
        draft["dispenseRequest"] = {"quantity": {"value": 3, "unit": "mL", "system": "http://unitsofmeasure.org",
                                                 "code": "mL"}}
    return draft


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draft=drafts(), patient=st.sampled_from(PATIENTS), profile=st.sampled_from(["uk", "us"]))
def test_suggestions_for_generated_drafts_are_complete_orders_the_service_finds_no_fault_with(clients, draft,
                                                                                                patient, profile):
    request = fixture_request(patient)
    subject = {"reference": f"Patient/{request['context']['patientId']}"}
    _drafts(request)[:] = [{"resource": {**draft, "subject": subject}}]
    assert _closure_problems(clients[profile], request) == []


@pytest.mark.parametrize(("route", "corrected"), [("oral", False), ("im", True)])
def test_a_volume_dose_is_corrected_in_one_click_for_an_injection_only(clients, route, corrected):
    """10 mL of a 1000 mcg/mL vial weekly: by mouth in malabsorption, "1,000 mcg weekly" would be too low
    (deficiency.malabsorption-oral-dose-too-low), so only an injection is offered the label's dose (found by
    the generated-draft property above)."""
    request = fixture_request("requests/def-pernicious-loading-draft.json")
    dosage = {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}},
              "route": {"coding": [{"system": "http://snomed.info/sct", "code": ROUTES[route]}]},
              "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mL", "system": "http://unitsofmeasure.org",
                                                "code": "mL"}}]}
    _drafts(request)[:] = [{"resource": {"resourceType": "MedicationRequest", "id": "vial", "status": "draft",
                                         "intent": "order", "medicationCodeableConcept": PRODUCTS[1],
                                         "subject": {"reference": f"Patient/{request['context']['patientId']}"},
                                         "dosageInstruction": [dosage]}}]
    response = clients["uk"].post("/cds-services/b12-order-sign", json=request)
    [card] = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "units.volume-exceeds-dose"]
    assert bool(card.get("suggestions")) is corrected
    assert _closure_problems(clients["uk"], request) == []
