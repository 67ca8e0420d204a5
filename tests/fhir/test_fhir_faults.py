"""FHIR-server faults on a real local server: each answered within the deadline, the service healthy after."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cds.config import Settings
from tests.conftest import fixture_request, topics
from tests.fhir_server import FaultServer, fault_server

pytestmark = pytest.mark.usefixtures("settled_heap")   # timed against the deadline

KEY = "conditions"
DEADLINE_S = Settings.model_fields["deadline_s"].default  # the production default
FAILS = ["500", "401", "hang", "malformed-json", "not-a-bundle", "50-mb", "50-mb-declared", "drip"]


@pytest.fixture(scope="module")
def request_body() -> dict:
    return fixture_request("requests/no-labs-im-draft.json")


@pytest.fixture
def server(request_body) -> Iterator[FaultServer]:
    with fault_server(request_body["prefetch"][KEY]) as running:
        yield running


def _call(client, request_body: dict, server: FaultServer) -> tuple[object, float]:
    """Post the request with `conditions` left to the FHIR server; the answer and the seconds it took."""
    body = {**request_body, "prefetch": {k: v for k, v in request_body["prefetch"].items() if k != KEY},
            "fhirServer": server.url,
            "fhirAuthorization": {"access_token": "tok-123", "token_type": "Bearer", "scope": "user/*.read"}}
    started = time.monotonic()
    response = client.post("/cds-services/b12-order-sign", json=body)
    return response, time.monotonic() - started


def _assert_healthy(client, request_body: dict, server: FaultServer) -> None:
    server.fault = "ok"
    response, _ = _call(client, request_body, server)
    assert response.status_code == 200
    assert "deficiency.not-confirmed" in topics(response)


@pytest.mark.parametrize("fault", FAILS)
def test_fault_is_412_naming_the_key_within_the_deadline(client, request_body, server, fault):
    server.fault = fault
    response, elapsed = _call(client, request_body, server)
    assert response.status_code == 412, response.text
    assert response.json()["detail"][0]["field"] == f"prefetch.{KEY}"
    assert elapsed < DEADLINE_S
    _assert_healthy(client, request_body, server)


def test_endless_next_links_stop_at_the_page_cap_with_the_data_that_arrived(client, settings, request_body,
                                                                             server, caplog):
    server.fault = "endless-next"
    response, elapsed = _call(client, request_body, server)
    assert f"cut short after {settings.fhir_max_pages} pages" in caplog.text
    assert response.status_code == 200
    assert "deficiency.not-confirmed" in topics(response)
    assert server.hits == settings.fhir_max_pages
    assert elapsed < DEADLINE_S
    _assert_healthy(client, request_body, server)
