"""Metrics count each request once, by its real status: read before and after (the registry is shared)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cds.api import create_app
from tests.conftest import fixture_request, sample

CALLS = "cds_requests_total"
SERVICE = "b12-order-sign"


def _calls(status: int, service: str = SERVICE) -> float:
    return sample(CALLS, {"service": service, "status": str(status)})


JSON = {"Content-Type": "application/json"}


def _counted(client: TestClient, path: str, expected: int, service: str = SERVICE, **request) -> None:
    """POST to `path`: it answers `expected`, counted once under `service`, never as a 500."""
    before, errors_before = _calls(expected, service), _calls(500, service)
    assert client.post(path, **request).status_code == expected
    assert _calls(expected, service) - before == 1
    assert _calls(500, service) == errors_before


def test_200_counts_the_call_its_latency_and_its_cards(client):
    cards = {"rule": "units.mg-mcg-confusion", "indicator": "critical"}
    latency, issued = sample("cds_request_seconds_count", {"service": SERVICE}), sample("cds_cards_total", cards)
    _counted(client, f"/cds-services/{SERVICE}", 200, json=fixture_request("requests/unit-error-1000mg.json"))
    assert sample("cds_request_seconds_count", {"service": SERVICE}) - latency == 1
    assert sample("cds_cards_total", cards) - issued == 1


def test_400_is_counted(client):
    _counted(client, f"/cds-services/{SERVICE}", 400, content=b"not json", headers=JSON)


def test_415_is_counted(client):
    _counted(client, f"/cds-services/{SERVICE}", 415, content=b"{}", headers={"Content-Type": "text/plain"})


def test_404_is_counted_without_the_unknown_name(client):
    _counted(client, "/cds-services/made-up-service-42", 404, service="(unknown)", json={})
    assert "made-up-service-42" not in client.get("/metrics").text


def test_412_is_counted(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    del request["prefetch"]["observations"]
    _counted(client, f"/cds-services/{SERVICE}", 412, json=request)


@pytest.fixture
def small(settings, runtime) -> TestClient:
    """The app with a 1000-byte body limit."""
    return TestClient(create_app(settings.model_copy(update={"max_body_bytes": 1000}), runtime))


def _chunks(body: bytes) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length), 100 bytes at a time."""
    for start in range(0, len(body), 100):
        yield body[start:start + 100]


@pytest.mark.parametrize(("service", "status"), [(SERVICE, 413), ("(unknown)", 404)])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_body_is_counted_as_413_or_the_404_read_before_it(small, service, status, chunked):
    body = json.dumps(fixture_request("requests/unit-error-1000mg.json")).encode()
    path = f"/cds-services/{SERVICE if service == SERVICE else 'made-up-service-42'}"
    _counted(small, path, status, service=service, content=_chunks(body) if chunked else body, headers=JSON)


def test_a_body_within_the_limit_sent_chunked_is_served(client):
    body = json.dumps(fixture_request("requests/unit-error-1000mg.json")).encode()
    _counted(client, f"/cds-services/{SERVICE}", 200, content=_chunks(body), headers=JSON)

