"""Every error row of service.md, over HTTP: clear JSON errors, never a 500."""

from __future__ import annotations

import json

import pytest
import responses

from cds.config import Settings
from cds.fhir.client import SERVER_FAILED
from tests.conftest import fixture_request, settings_for, topics

CONTRACT_PREFETCH_KEYS = {"patient", "observations", "medications", "conditions", "procedures", "allergies"}


def test_discovery_lists_the_five_services_with_contract_prefetch(client):
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    assert {sid: s["hook"] for sid, s in services.items()} == {
        "b12-order-select": "order-select", "b12-order-sign": "order-sign", "b12-label-check": "order-sign",
        "b12-patient-view": "patient-view", "b12-medication-prescribe": "medication-prescribe"}
    for service in services.values():
        assert set(service["prefetch"]) == CONTRACT_PREFETCH_KEYS
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert service["prefetch"]["conditions"] == "Condition?patient={{context.patientId}}&clinical-status=active"
        assert service["title"] and service["description"] and service["usageRequirements"]
    observations = services["b12-order-sign"]["prefetch"]["observations"]
    for code in ("2132-9", "14685-2", "16695-9", "72160-5", "13964-2", "13965-9", "718-7", "787-2", "98979-8",
                 "62238-1", "33914-3", "48642-3", "48643-1", "2823-3", "6298-4", "31444-3", "5140-4"):
        assert code in observations
    assert observations.endswith("&_sort=-date&_count=100")


JSON = {"Content-Type": "application/json"}


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]
    assert "Traceback" not in response.text
    return body


def test_not_json_is_400(client):
    body = _error(client.post("/cds-services/b12-order-sign", content=b"{not json", headers=JSON), 400)
    assert body["detail"][0]["field"] == "(body)"


@pytest.mark.parametrize("field", ["hook", "hookInstance", "context"])
def test_missing_envelope_field_is_400_naming_it(client, field):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request[field]
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 400)
    assert field in [d["field"] for d in body["detail"]]


@pytest.mark.parametrize("field", ["userId", "patientId", "draftOrders"])
def test_missing_context_field_is_400_naming_it(client, field):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["context"][field]
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 400)
    assert f"context.{field}" in [d["field"] for d in body["detail"]]


def test_wrong_hook_is_400(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    body = _error(client.post("/cds-services/b12-patient-view", json=request), 400)
    assert body["detail"][0]["field"] == "hook"


def test_json_array_body_is_400(client):
    _error(client.post("/cds-services/b12-order-sign", json=[1, 2]), 400)


def test_unknown_service_is_404(client):
    _error(client.post("/cds-services/no-such-service", json={}), 404)
    _error(client.post("/cds-services/no-such-service/feedback", json={}), 404)


def test_oversized_body_is_413(settings, runtime):
    from fastapi.testclient import TestClient

    from cds.api import create_app

    small = TestClient(create_app(settings_for(settings.data_dir, max_body_bytes=1000), runtime))
    request = fixture_request("requests/unit-error-1000mg.json")
    _error(small.post("/cds-services/b12-order-sign", content=json.dumps(request).encode(), headers=JSON), 413)


def test_absent_prefetch_without_fhir_server_is_412_naming_the_key(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["prefetch"]["observations"]
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 412)
    assert "observations" in body["error"]
    assert body["detail"][0]["field"] == "prefetch.observations"


def test_every_key_missing_is_named_in_one_412(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    for key in ("observations", "conditions", "patient"):
        del request["prefetch"][key]
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 412)
    assert body["error"] == "required data unavailable: patient, observations, conditions"   # the services' order
    assert [item["field"] for item in body["detail"]] == ["prefetch.patient", "prefetch.observations",
                                                          "prefetch.conditions"]


@responses.activate
def test_a_server_failing_one_key_is_still_asked_for_the_others(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["prefetch"]["conditions"], request["prefetch"]["observations"]
    request["fhirServer"] = "https://fhir.example.org/r4"
    responses.get("https://fhir.example.org/r4/Observation", status=500)
    conditions = responses.get("https://fhir.example.org/r4/Condition",
                               json={"resourceType": "Bundle", "type": "searchset", "entry": []})
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 412)
    assert [item["field"] for item in body["detail"]] == ["prefetch.observations"]
    assert conditions.call_count == 1


def test_null_prefetch_key_means_no_data(client):
    request = fixture_request("requests/no-labs-im-draft.json")
    request["prefetch"]["observations"] = None
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200
    assert "deficiency.not-confirmed" in [c["source"]["topic"]["code"] for c in response.json()["cards"]]


def test_prefetch_value_that_is_not_a_resource_is_400(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    request["prefetch"]["conditions"] = ["not", "a", "bundle"]
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 400)
    assert body["detail"][0]["field"] == "prefetch.conditions"


def test_draft_orders_bundle_without_type_is_accepted(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["context"]["draftOrders"]["type"]
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200
    assert response.json()["cards"][0]["source"]["topic"]["code"] == "units.mg-mcg-confusion"


def test_invalid_draft_order_is_skipped_not_fatal(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    request["context"]["draftOrders"]["entry"].append({"resource": {"resourceType": "MedicationRequest",
                                                                    "id": "bad", "status": "nonsense"}})
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200
    assert "units.mg-mcg-confusion" in [c["source"]["topic"]["code"] for c in response.json()["cards"]]


@responses.activate
def test_fhir_server_failure_is_412_saying_only_that_the_server_failed(client, caplog):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["prefetch"]["conditions"]
    request["fhirServer"] = "https://fhir.example.org/r4"
    request["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer", "scope": "x"}
    responses.get("https://fhir.example.org/r4/Condition", status=500)
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 412)
    assert body["detail"][0]["field"] == "prefetch.conditions"
    assert body["detail"][0]["message"] == SERVER_FAILED          # the same for any failure of a server
    assert "prefetch conditions unavailable: FHIR server answered HTTP 500" in caplog.text   # the log says which


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["rules"] >= 3


def test_cors_preflight_allowed_for_sandbox(client):
    response = client.options("/cds-services", headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://sandbox.cds-hooks.org")


def test_an_engine_busy_past_the_deadline_gives_the_incomplete_card(settings, runtime):
    import threading

    from fastapi.testclient import TestClient

    from cds.api import create_app
    from cds.engine.evaluator import ENGINE_LOCK

    hurried = TestClient(create_app(Settings(data_dir=settings.data_dir, deadline_s=0.3, admission_min_left_s=-1),
                                    runtime))
    held, release = threading.Event(), threading.Event()

    def hold_engine() -> None:
        with ENGINE_LOCK:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_engine)
    holder.start()
    held.wait(5)
    try:
        response = hurried.post("/cds-services/b12-order-sign",
                                json=fixture_request("requests/unit-error-1000mg.json"))
    finally:
        release.set()
        holder.join()
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert [card["source"]["topic"]["code"] for card in cards] == ["service.incomplete"]
    assert cards[-1]["indicator"] == "warning" and cards[-1]["overrideReasons"]
    assert "did not run: **service, deficiency, monitoring, units" in cards[-1]["detail"]


def test_a_call_past_its_deadline_answers_the_incomplete_card(settings, runtime):
    """Every stage counts toward the deadline: a call admitted with no time left (shedding off) is
    answered at once with `service.incomplete` naming every pack, not evaluated late."""
    from fastapi.testclient import TestClient

    from cds.api import create_app

    late = TestClient(create_app(Settings(data_dir=settings.data_dir, deadline_s=0.0, admission_min_left_s=-1),
                                 runtime))
    response = late.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json"))
    assert response.status_code == 200
    assert topics(response) == ["service.incomplete"]
    assert "did not run: **service, deficiency, monitoring, units" in response.json()["cards"][0]["detail"]


def test_too_little_time_left_to_start_is_503_with_retry_after(settings, runtime):
    from fastapi.testclient import TestClient

    from cds.api import create_app

    hurried = TestClient(create_app(Settings(data_dir=settings.data_dir, deadline_s=0.25), runtime))
    response = hurried.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json"))
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"] == "service busy: retry"


@pytest.mark.parametrize(("where", "value", "field"), [
    ("draftOrders.entry", 1.0, "context.draftOrders.entry"),
    ("draftOrders.resourceType", "Patient", "context.draftOrders.resourceType"),
])
def test_malformed_draft_orders_bundle_is_400_naming_the_field(client, where, value, field):
    request = fixture_request("requests/unit-error-1000mg.json")
    key = where.split(".")[1]
    request["context"]["draftOrders"][key] = value
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 400)
    assert any(d["field"].startswith(field) for d in body["detail"])


def test_prefetch_bundle_with_malformed_entries_is_400(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    request["prefetch"]["observations"]["entry"] = [1, 2]
    body = _error(client.post("/cds-services/b12-order-sign", json=request), 400)
    assert body["detail"][0]["field"] == "prefetch.observations"


def test_medication_prescribe_errors_name_the_field_plainly(client):
    request = {"hook": "medication-prescribe", "hookInstance": "h", "context": {
        "userId": "Practitioner/1", "patientId": "p", "medications": "not a bundle"}}
    body = _error(client.post("/cds-services/b12-medication-prescribe", json=request), 400)
    assert [d["field"] for d in body["detail"]] == ["context.medications"]
