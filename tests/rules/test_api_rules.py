"""The proof rules end to end over HTTP, on the bundled rules and fixtures."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.medicationrequest import MedicationRequest

from tests.conftest import FIXTURES, as_hook, fixture_request, sample, topics


@pytest.mark.parametrize(("fixture", "service", "rule", "indicator"), [
    ("requests/neuro-oral-draft.json", "b12-order-sign", "deficiency.neuro-or-anaemia-needs-loading", "warning"),
    ("requests/neuro-monthly-im-draft.json", "b12-order-select", "deficiency.neuro-or-anaemia-needs-loading",
     "warning"),
    ("requests/no-labs-im-draft.json", "b12-order-sign", "deficiency.not-confirmed", "warning"),
    ("requests/entered-in-error-im-draft.json", "b12-order-sign", "deficiency.not-confirmed", "warning"),
    ("requests/unit-error-1000mg.json", "b12-order-sign", "units.mg-mcg-confusion", "critical"),
    ("requests/unit-error-1000mg.json", "b12-label-check", "units.mg-mcg-confusion", "critical"),
    ("services/b12-medication-prescribe.json", "b12-medication-prescribe",
     "deficiency.neuro-or-anaemia-needs-loading", "warning"),
])
def test_rule_fires_over_http(client, fixture, service, rule, indicator):
    response = client.post(f"/cds-services/{service}", json=fixture_request(fixture))
    assert response.status_code == 200
    cards = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == rule]
    assert len(cards) == 1
    assert cards[0]["indicator"] == indicator


@pytest.mark.parametrize(("fixture", "rule"), [
    ("requests/neuro-loading-draft.json", "deficiency.neuro-or-anaemia-needs-loading"),
    ("requests/dietary-im-draft.json", "deficiency.not-confirmed"),
    ("requests/unit-error-correct-dose.json", "units.mg-mcg-confusion"),
])
def test_rule_quiet_on_correct_order(client, fixture, rule):
    response = client.post("/cds-services/b12-order-sign", json=fixture_request(fixture))
    assert response.status_code == 200
    assert rule not in topics(response)



def test_replacing_the_product_drops_the_old_products_medication_and_supply(client):
    request = fixture_request("requests/neuro-oral-draft.json")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["contained"] = [{"resourceType": "Medication", "id": "tab", "code": draft.pop("medicationCodeableConcept")}]
    draft["medicationReference"] = {"reference": "#tab"}
    draft["dispenseRequest"] = {"quantity": {"value": 30, "unit": "tablet"}}
    cards = client.post("/cds-services/b12-order-sign", json=request).json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "deficiency.neuro-or-anaemia-needs-loading")
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert {"contained", "medicationReference"}.isdisjoint(resource)
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "317106"
    assert resource["dispenseRequest"]["quantity"]["unit"] == "mL"   # the new product's supply, not 30 tablets
    assert MedicationRequest.model_validate(resource).id == "draft-oral-50"

# Regimens that fit the patient's scenario: alert fatigue is a defect, so no warning or critical card.
WELL_FORMED = [
    "neuro-loading-draft",            # neuropathy: hydroxocobalamin 1 mg IM alternate days
    "def-pernicious-loading-draft",   # pernicious anaemia: IM loading (info: plan maintenance)
    "def-pernicious-loading-and-maintenance",  # ... with the maintenance order drafted too
    "def-bariatric-oral-1mg",         # bariatric surgery: oral 1 mg daily
    "dietary-im-draft",               # dietary deficiency: monthly IM (info: oral may serve)
    "unit-error-correct-dose",        # 1000 mcg IM monthly, written correctly
]


@pytest.mark.parametrize("service", ["b12-order-select", "b12-order-sign", "b12-label-check",
                                     "b12-medication-prescribe"])
@pytest.mark.parametrize("fixture", WELL_FORMED)
def test_well_formed_regimen_gives_no_warning_or_critical(client, runtime, fixture, service):
    request = as_hook(fixture_request(f"requests/{fixture}.json"), runtime.current.rulebook.services[service].hook)
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"] if c["indicator"] != "info"] == []


def test_reloading_a_patient_on_maintenance_without_a_review_prompts_one(client):
    """Pernicious anaemia on 3-monthly maintenance, a loading course drafted with no reason and no
    result in 90 days: not a new series, so the increase needs a documented review."""
    request = fixture_request("requests/def-maintenance-loading-draft.json")
    cards = {c["source"]["topic"]["code"]: c for c in client.post("/cds-services/b12-order-sign",
                                                                   json=request).json()["cards"]}
    assert cards["escalation.increase-without-review"]["indicator"] == "warning"
    assert "deficiency.malabsorption-lifelong" not in cards


def test_mg_mcg_card_states_doses_and_offers_corrected_update(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    card = client.post("/cds-services/b12-order-sign", json=request).json()["cards"][0]
    assert card["source"]["topic"]["code"] == "units.mg-mcg-confusion"
    assert "1,000 mg" in card["summary"] and "1,000,000 mcg" in card["summary"]  # ISMP: commas from 1,000
    assert "µg" not in card["detail"] and " ug" not in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "draft-cyano-1000mg"
    dose = action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert (dose["value"], dose["code"]) == (1000, "ug")
    # the rest of the draft's regimen is kept
    assert action["resource"]["dosageInstruction"][0]["timing"]["repeat"]["periodUnit"] == "mo"
    assert {r["code"] for r in card["overrideReasons"]} == {"dose-intended", "specialist-advice"}


def test_loading_card_uses_patient_values_and_replaces_the_draft(client):
    card = next(c for c in client.post("/cds-services/b12-order-sign",
                                       json=fixture_request("requests/neuro-oral-draft.json")).json()["cards"]
                if c["source"]["topic"]["code"] == "deficiency.neuro-or-anaemia-needs-loading")
    assert "B12 95 ng/L" in card["detail"] and "Hb 98 g/L" in card["detail"]
    assert "paraesthesia" in card["detail"]
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["id"] == "draft-oral-50"
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "317106"
    assert resource["dosageInstruction"][0]["route"]["coding"][0]["code"] == "78421000"
    repeat = resource["dosageInstruction"][0]["timing"]["repeat"]
    assert {key: repeat[key] for key in ("frequency", "period", "periodUnit", "count")} == {
        "frequency": 1, "period": 2, "periodUnit": "d", "count": 11}   # alternate days for 3 weeks


def test_not_confirmed_offers_lab_orders(client):
    card = client.post("/cds-services/b12-order-sign",
                       json=fixture_request("requests/no-labs-im-draft.json")).json()["cards"][0]
    codes = [s["actions"][0]["resource"]["code"]["coding"][0]["code"] for s in card["suggestions"]]
    assert codes == ["2132-9", "58410-2"]
    assert all(s["actions"][0]["resource"]["resourceType"] == "ServiceRequest" for s in card["suggestions"])


def test_order_select_honours_selections(client):
    request = fixture_request("requests/neuro-monthly-im-draft.json")
    request["context"]["selections"] = ["MedicationRequest/some-other-order"]
    response = client.post("/cds-services/b12-order-select", json=request)
    assert response.status_code == 200
    assert response.json()["cards"] == []


def test_card_contract_fields(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    first = client.post("/cds-services/b12-order-sign", json=request).json()
    again = client.post("/cds-services/b12-order-sign", json=request).json()
    assert [c["uuid"] for c in first["cards"]] == [c["uuid"] for c in again["cards"]]
    assert first["systemActions"] == []
    for card in first["cards"]:
        assert len(card["summary"]) <= 140
        assert card["source"]["label"] == "B12 dosing checks"
        assert card["source"]["topic"]["system"] == "urn:cobalt-cds:rule"
        assert card["extension"]["cobalt-cds"]["packVersion"]
        if card["indicator"] in ("warning", "critical"):
            assert card["overrideReasons"]
        assert card["links"] and all(link["url"].startswith("https://") for link in card["links"])
    ranks = {"critical": 0, "warning": 1, "info": 2}
    order = [ranks[c["indicator"]] for c in first["cards"]]
    assert order == sorted(order)
    request["hookInstance"] = "another-instance"
    other = client.post("/cds-services/b12-order-sign", json=request).json()
    assert {c["uuid"] for c in other["cards"]}.isdisjoint({c["uuid"] for c in first["cards"]})


def test_malformed_observation_beside_good_data_keeps_the_critical_card_and_is_counted(client):
    skipped = ("cds_fhir_resources_skipped_total", {"source": "prefetch.observations", "resource_type": "Observation"})
    before = sample(*skipped)
    request = fixture_request("requests/neuro-oral-draft.json")
    request["prefetch"]["observations"]["entry"].insert(0, {"resource": {
        "resourceType": "Observation", "id": "broken", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "valueQuantity": {"value": "not-a-number", "unit": "ng/L"}}})
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200
    assert "deficiency.neuro-or-anaemia-needs-loading" in topics(response)
    assert sample(*skipped) - before == 1


@pytest.mark.parametrize("fixture", sorted(p.name for p in (FIXTURES / "requests").glob("*.json")))
def test_every_suggested_resource_is_valid_fhir(client, runtime, fixture):
    request = fixture_request(f"requests/{fixture}")
    service = next(s.id for s in runtime.current.rulebook.services.values() if s.hook == request["hook"])
    cards = client.post(f"/cds-services/{service}", json=request).json()["cards"]
    for action in (a for card in cards for s in card.get("suggestions", []) for a in s["actions"]):
        if action["type"] == "delete":   # names a draft of the request
            assert action["resourceId"] in {f"MedicationRequest/{e['resource']['id']}"
                                            for e in request["context"]["draftOrders"]["entry"]}
            continue
        resource = action["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert resource["subject"]["reference"] == f"Patient/{request['context']['patientId']}"


def test_suggested_order_text_leaves_out_what_is_unknown(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]["timing"]
    card = next(c for c in client.post("/cds-services/b12-order-sign", json=request).json()["cards"]
                if c["source"]["topic"]["code"] == "units.mg-mcg-confusion")
    assert card["suggestions"][0]["actions"][0]["resource"]["dosageInstruction"][0]["text"] == "1,000 mcg IM"


def test_card_text_never_abbreviates_micrograms(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"]["text"] = "Cyanocobalamin 1000 µg/mL injection"
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {"value": 6000, "unit": "ug "}
    cards = client.post("/cds-services/b12-order-sign", json=request).json()["cards"]
    text = json.dumps([(c["summary"], c["detail"]) for c in cards], ensure_ascii=False)
    assert "6,000 mcg" in text and "1000 mcg/mL" in text
    assert "µg" not in text and " ug" not in text
