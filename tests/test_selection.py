"""Select before build: only resources a rule can read become FHIR models (cds.facts.selection)."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import fixture_request, topics

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


def observation(code: str, system: str = "http://loinc.org") -> dict:
    return {"resourceType": "Observation", "id": f"o-{code}", "status": "final",
            "code": {"coding": [{"system": system, "code": code}]}}


def order(medication: dict) -> dict:
    return {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order", **medication}


@pytest.mark.parametrize(("resource", "wanted"), [
    (observation("718-7"), True), (observation("2132-9"), True), (observation("31444-3"), True),
    (observation("2345-7"), False), (observation("718-7", system="http://example.org/local"), False),
    ({"resourceType": "Observation", "code": "not a concept"}, True),          # odd: validation decides
    (order({"medicationCodeableConcept": {"coding": [{"system": RX, "code": "309594"}]}}), True),
    (order({"medicationCodeableConcept": {"text": "Neo-Cytamen 1000 micrograms/ml"}}), True),
    (order({"medicationCodeableConcept": {"text": "Amoxicillin 500 MG Oral Capsule"}}), False),
    (order({"medicationReference": {"reference": "Medication/x"}}), True),  # resolved later
    (order({"medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc",
                                                      "code": "50633031011"}]}}), True),  # any NDC layout
    ({"resourceType": "Condition", "code": {"text": "anything"}}, True), ("not a resource", True),
])
def test_selector(runtime, resource, wanted):
    assert runtime.current.normalizer.selects(resource) is wanted


def test_unread_resources_are_never_validated_nor_counted_as_skipped(client, caplog):
    request = copy.deepcopy(fixture_request("requests/unit-error-1000mg.json"))
    entries = request["prefetch"]["observations"]["entry"]
    entries += [{"resource": {**observation("2345-7"), "id": f"glucose-{i}", "valueQuantity": {"value": "bad"}}}
                for i in range(300)]
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200 and "units.mg-mcg-confusion" in topics(response)
    assert "glucose" not in caplog.text   # a glucose result no rule reads is never parsed, so never "skipped"
