"""Fetching absent prefetch keys from the EHR's FHIR server (mocked with `responses`)."""

from __future__ import annotations

import pytest
import requests
import responses
from responses import matchers

from cds.fhir.client import DataUnavailable, FhirClient
from tests.conftest import fixture_request

BASE = "https://fhir.example.org/r4"


def _client(**overrides) -> FhirClient:
    options = {"budget_s": 1.0, "connect_timeout_s": 0.5, "max_pages": 3, "max_resources": 1000}
    return FhirClient(BASE, "tok-123", **{**options, **overrides})


def _bundle(*ids, next_url=None):
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Condition", "id": i}} for i in ids]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@responses.activate
def test_forwards_bearer_token_and_follows_next_links_up_to_the_page_cap():
    auth = matchers.header_matcher({"Authorization": "Bearer tok-123"})
    responses.get(f"{BASE}/Condition?patient=p1", json=_bundle("a", next_url=f"{BASE}/page2"), match=[auth])
    responses.get(f"{BASE}/page2", json=_bundle("b", next_url=f"{BASE}/page3"), match=[auth])
    responses.get(f"{BASE}/page3", json=_bundle("c", next_url=f"{BASE}/page4"), match=[auth])
    bundle = _client().fetch("conditions", "Condition?patient=p1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["a", "b", "c"]
    assert len(responses.calls) == 3  # page 4 is beyond the cap


@responses.activate
def test_caps_resources_per_search():
    responses.get(f"{BASE}/Condition", json=_bundle(*[str(i) for i in range(10)]))
    assert len(_client(max_resources=4).fetch("conditions", "Condition")["entry"]) == 4


@responses.activate
def test_patient_read_returns_the_resource():
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert _client().fetch("patient", "Patient/p1")["id"] == "p1"


@pytest.mark.parametrize(("status", "body"), [(401, {}), (404, {}), (500, {}), (200, {"resourceType": "Patient"})])
@responses.activate
def test_failures_raise_data_unavailable(status, body):
    responses.get(f"{BASE}/Condition", json=body, status=status)
    with pytest.raises(DataUnavailable) as raised:
        _client().fetch("conditions", "Condition")
    assert raised.value.key == "conditions"


@responses.activate
def test_non_json_and_timeout_raise_data_unavailable():
    responses.get(f"{BASE}/Condition", body="<html>", status=200)
    responses.get(f"{BASE}/Procedure", body=requests.ReadTimeout("slow"))
    with pytest.raises(DataUnavailable, match="not JSON"):
        _client().fetch("conditions", "Condition")
    with pytest.raises(DataUnavailable, match="timed out"):
        _client().fetch("procedures", "Procedure")



@pytest.mark.parametrize(("next_url", "reason"), [
    (5, "not a URL"), ({"url": "x"}, "not a URL"),
    ("https://collector.example.net/steal", "another server"), ("http://fhir.example.org/r4/page2", "another server"),
])
@responses.activate
def test_next_links_must_stay_on_the_fhir_server(next_url, reason):
    first = _bundle("a")
    first["link"] = [{"relation": "next", "url": next_url}]
    responses.get(f"{BASE}/Condition", json=first)
    with pytest.raises(DataUnavailable, match=reason):
        _client().fetch("conditions", "Condition")
    assert len(responses.calls) == 1  # the token was not sent anywhere else


def test_exhausted_budget_raises_without_calling():
    with pytest.raises(DataUnavailable, match="budget"):
        _client(budget_s=0).fetch("conditions", "Condition")


@responses.activate
def test_service_fetches_absent_keys_with_the_token(client):
    request = fixture_request("requests/no-labs-im-draft.json")
    conditions = request["prefetch"].pop("conditions")
    observations = request["prefetch"].pop("observations")
    request["fhirServer"] = BASE
    request["fhirAuthorization"] = {"access_token": "tok-123", "token_type": "Bearer", "scope": "user/*.read"}
    auth = matchers.header_matcher({"Authorization": "Bearer tok-123"})
    responses.get(f"{BASE}/Condition", json=conditions, match=[auth, matchers.query_param_matcher(
        {"patient": "pat-no-labs", "clinical-status": "active"})])
    responses.get(f"{BASE}/Observation", json=observations, match=[auth])
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200
    assert "deficiency.not-confirmed" in [c["source"]["topic"]["code"] for c in response.json()["cards"]]
    assert len(responses.calls) == 2


@pytest.mark.parametrize("failure", [401, 404, "timeout", "not-a-bundle"])
@responses.activate
def test_service_answers_412_when_the_fhir_server_fails(client, failure):
    request = fixture_request("requests/no-labs-im-draft.json")
    del request["prefetch"]["medications"]
    request["fhirServer"] = BASE
    request["fhirAuthorization"] = {"access_token": "tok-123", "token_type": "Bearer", "scope": "x"}
    if failure == "timeout":
        responses.get(f"{BASE}/MedicationRequest", body=requests.ConnectTimeout("down"))
    elif failure == "not-a-bundle":
        responses.get(f"{BASE}/MedicationRequest", json={"resourceType": "OperationOutcome"})
    else:
        responses.get(f"{BASE}/MedicationRequest", status=failure)
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 412
    assert response.json()["detail"][0]["field"] == "prefetch.medications"
    assert "tok-123" not in response.text


@responses.activate
def test_access_token_is_never_logged(client, caplog):
    request = fixture_request("requests/no-labs-im-draft.json")
    del request["prefetch"]["conditions"]
    request["fhirServer"] = BASE
    request["fhirAuthorization"] = {"access_token": "tok-SECRET-123", "token_type": "Bearer", "scope": "x"}
    responses.get(f"{BASE}/Condition", status=401)
    request["prefetch"]["observations"]["entry"].append({"resource": {"resourceType": "Observation", "id": "bad"}})
    with caplog.at_level("DEBUG"):
        assert client.post("/cds-services/b12-order-sign", json=request).status_code == 412
    assert caplog.records
    assert "tok-SECRET-123" not in caplog.text


@responses.activate
def test_a_search_larger_than_max_bytes_over_all_its_pages_is_data_unavailable():
    responses.get(f"{BASE}/Condition", json=_bundle(*"abcdefgh", next_url=f"{BASE}/page2"))
    responses.get(f"{BASE}/page2", json=_bundle(*"ijklmnop"))
    first_page = len(responses.registered()[0].body)
    assert _client(max_bytes=2 * first_page).fetch("conditions", "Condition")["entry"]
    with pytest.raises(DataUnavailable, match="more than"):
        _client(max_bytes=first_page + 10).fetch("conditions", "Condition")
