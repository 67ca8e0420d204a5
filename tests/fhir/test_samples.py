"""Requests built from real-world samples nobody on the team wrote must be answered (200)."""

from __future__ import annotations

import copy
import json

import pytest
import responses

from tests.conftest import SAMPLES

EMPTY = {"resourceType": "Bundle", "type": "searchset", "entry": []}


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def _empty_prefetch() -> dict:
    return {key: copy.deepcopy(EMPTY) for key in
            ("observations", "medications", "conditions", "procedures", "allergies")} | {"patient": None}


@pytest.mark.parametrize(("sample", "service", "hook"), [
    ("cds-hooks-docs/order-select-r4-context.json", "b12-order-select", "order-select"),
    ("cds-hooks-docs/order-sign-r4-context.json", "b12-order-sign", "order-sign"),
])
def test_published_order_examples_are_accepted(client, sample, service, hook):
    request = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
               **_sample(sample), "prefetch": _empty_prefetch()}
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": [], "systemActions": []}  # amoxicillin + a diet: not B12


CYANOCOBALAMIN = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "309594",
                              "display": "cyanocobalamin 1000 MCG/ML Injectable Solution"}]}


def _as_b12_order(sample: str, hook: str, dose: dict | None = None) -> dict:
    """The published example with its MedicationRequest turned into a B12 order, in the sample's own
    dosage shape (order-sign: doseQuantity on the dosage; order-select: doseAndRate as an object)."""
    request = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
               **_sample(sample), "prefetch": _empty_prefetch()}
    for entry in request["context"]["draftOrders"]["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationRequest":
            resource["medicationCodeableConcept"] = CYANOCOBALAMIN
            dosage = resource["dosageInstruction"][0]
            if dose is not None:
                holder = dosage.get("doseAndRate", dosage)
                holder["doseQuantity"] = dose
    return request


@pytest.mark.parametrize(("sample", "service", "hook"), [
    ("cds-hooks-docs/order-select-r4-context.json", "b12-order-select", "order-select"),
    ("cds-hooks-docs/order-sign-r4-context.json", "b12-order-sign", "order-sign"),
    ("cds-hooks-docs/order-sign-r4-context.json", "b12-label-check", "order-sign"),
])
@pytest.mark.parametrize(("dose", "expected"), [
    # the sample's own "5 mL bid": 5 mL of 1000 mcg/mL, twice a day, route not given (an injectable)
    (None, {"units.volume-exceeds-dose": "warning", "frequency.more-than-daily": "critical"}),
    ({"value": 1000, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
     {"units.mg-mcg-confusion": "critical", "frequency.more-than-daily": "critical"}),
])
def test_b12_orders_in_the_published_shapes_get_their_cards(client, sample, service, hook, dose, expected):
    response = client.post(f"/cds-services/{service}", json=_as_b12_order(sample, hook, dose))
    assert response.status_code == 200, response.text
    cards = {c["source"]["topic"]["code"]: c["indicator"] for c in response.json()["cards"]}
    assert {rule: cards[rule] for rule in expected if rule in cards} == expected


@responses.activate
def test_published_patient_view_example_fetches_from_its_fhir_server(client):
    request = _sample("cds-hooks-docs/patient-view-request.json")
    base = request["fhirServer"]
    responses.get(f"{base}/Patient/1288992", json=request["prefetch"]["patientToGreet"])
    for resource in ("Observation", "MedicationRequest", "Condition", "Procedure", "AllergyIntolerance"):
        responses.get(f"{base}/{resource}", json=EMPTY)
    response = client.post("/cds-services/b12-patient-view", json=request)
    assert response.status_code == 200, response.text
    assert all(call.request.headers["Authorization"] == "Bearer some-opaque-fhir-access-token"
               for call in responses.calls)


def test_synthea_patient_as_prefetch(client):
    synthea = _sample("synthea/korey-toy-r4-resources.json")

    def bundle(resources):
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}

    patient_id = synthea["patient"]["id"]
    request = {
        "hook": "order-sign", "hookInstance": "8f3c2d8e-0000-4000-8000-000000000001",
        "context": {"userId": "Practitioner/1", "patientId": patient_id, "draftOrders": {
            "resourceType": "Bundle", "entry": [{"resource": {
                "resourceType": "MedicationRequest", "id": "b12-draft", "status": "draft", "intent": "order",
                "subject": {"reference": f"Patient/{patient_id}"},
                "medicationCodeableConcept": {"text": "Cyanocobalamin 1000 mcg/mL injection"},
                "dosageInstruction": [{"route": {"text": "intramuscular"},
                                       "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "mo"}},
                                       "doseAndRate": [{"doseQuantity": {"value": 1000, "unit": "mcg"}}]}]}}]}},
        "prefetch": {"patient": synthea["patient"], "observations": bundle(synthea["Observation"]),
                     "medications": bundle(synthea["MedicationRequest"]), "conditions": bundle(synthea["Condition"]),
                     "procedures": bundle(synthea["Procedure"]), "allergies": None},
    }
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200, response.text
    # Synthea's patient has no B12 results: starting injections is flagged as unconfirmed.
    assert "deficiency.not-confirmed" in [c["source"]["topic"]["code"] for c in response.json()["cards"]]


def test_r4b_models_accept_every_synthea_r4_resource():
    from cds.fhir.parse import parse_resources

    synthea = _sample("synthea/korey-toy-r4-resources.json")
    skipped: list = []
    resources = [synthea["patient"], *synthea["Observation"], *synthea["MedicationRequest"],
                 *synthea["Condition"], *synthea["Procedure"]]
    assert len(parse_resources(resources, "synthea", skipped)) == len(resources) == 300
    assert skipped == []
