"""Select before build: only resources a rule can read become FHIR models (cds.fhir.select)."""

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
    assert runtime.current.selects(resource) is wanted


def test_unread_resources_are_never_validated_nor_counted_as_skipped(client, caplog):
    request = copy.deepcopy(fixture_request("requests/unit-error-1000mg.json"))
    entries = request["prefetch"]["observations"]["entry"]
    entries += [{"resource": {**observation("2345-7"), "id": f"glucose-{i}", "valueQuantity": {"value": "bad"}}}
                for i in range(300)]
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200 and "units.mg-mcg-confusion" in topics(response)
    assert "glucose" not in caplog.text   # a glucose result no rule reads is never parsed, so never "skipped"


def _draft_request(fixture: str, extra: list[dict]) -> dict:
    request = copy.deepcopy(fixture_request(fixture))
    request["context"]["draftOrders"]["entry"] += [{"resource": resource} for resource in extra]
    return request


def test_draft_medications_no_order_references_are_never_read(client, caplog):
    """A draftOrders bundle padded with Medications (3,000, each invalid) costs only their JSON."""
    padding = [{"resourceType": "Medication", "id": f"pad-{i}", "code": "not a concept"} for i in range(3000)]
    response = client.post("/cds-services/b12-order-sign", json=_draft_request("requests/unit-error-1000mg.json",
                                                                                padding))
    assert response.status_code == 200 and "units.mg-mcg-confusion" in topics(response)
    assert "pad-" not in caplog.text


def test_a_referenced_draft_medication_is_read(client):
    """The Medication a draft references names the product (here a 10 mL vial: the dose is 10 mL)."""
    request = copy.deepcopy(fixture_request("requests/label-10ml-multidose-vial.json"))
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    concept = draft.pop("medicationCodeableConcept")
    draft["medicationReference"] = {"reference": "Medication/vial"}
    request["context"]["draftOrders"]["entry"].append({"resource": {"resourceType": "Medication", "id": "vial",
                                                                    "code": concept}})
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert "units.volume-exceeds-dose" in topics(response)


def test_drafts_beyond_the_cap_are_not_read_and_the_cap_is_counted(runtime):
    from prometheus_client import REGISTRY

    from cds.fhir.gather import gather_record
    from cds.hooks import draft_resources, parse_request

    base = fixture_request("requests/unit-error-1000mg.json")
    draft = base["context"]["draftOrders"]["entry"][0]["resource"]
    extra = [{**copy.deepcopy(draft), "id": f"copy-{i}"} for i in range(12)]
    request, context = parse_request(_draft_request("requests/unit-error-1000mg.json", extra), "order-sign")
    before = REGISTRY.get_sample_value("cds_prefetch_capped_total", {"key": "draftOrders"}) or 0
    record = gather_record(runtime.current.prefetch, request.prefetch, context.model_dump(),
                           draft_resources(context)[0], lambda: None, 10, wanted=runtime.current.selects)
    assert len(record.drafts) == 10 and record.capped == ["draftOrders"]
    assert REGISTRY.get_sample_value("cds_prefetch_capped_total", {"key": "draftOrders"}) == before + 1


def test_a_capped_prefetch_key_keeps_ongoing_orders_first_then_the_newest(runtime):
    from cds.fhir.gather import gather_record

    def med(order_id: str, status: str, authored: str) -> dict:
        return {"resourceType": "MedicationRequest", "id": order_id, "status": status, "intent": "order",
                "authoredOn": authored, "medicationCodeableConcept": {"coding": [{"system": RX, "code": "309594"}]}}

    orders = [med("old-active", "active", "2020-01-01"), med("new-done", "completed", "2026-10-01"),
              med("older-done", "completed", "2025-01-01")]
    prefetch = {"medications": {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]}}
    templates = {"medications": "MedicationRequest?patient={{context.patientId}}"}
    record = gather_record(templates, prefetch, {"patientId": "p"}, [], lambda: None, 2,
                           wanted=runtime.current.selects)
    assert [o.id for o in record.medication_requests] == ["old-active", "new-done"]
    assert record.capped == ["medications"]
