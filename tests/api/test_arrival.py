"""Arrival time from a trusted proxy's X-Request-Start (service.md rev 2: the deadline counts from
the request's arrival, an X-Request-Start header from a trusted proxy included)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from cds.api import create_app
from cds.config import Settings
from tests.conftest import fixture_request, settings_for

PROXY = ("10.1.2.3", 40000)
DEADLINE_S = 1.5  # the stamps below are 1.4 s old: inside it only when the stamp is ignored


def _client(settings: Settings, runtime, trusted: list[str], client: tuple[str, int] = PROXY) -> TestClient:
    hurried = settings_for(settings.data_dir, trusted_proxies=trusted, deadline_s=DEADLINE_S)
    return TestClient(create_app(hurried, runtime), client=client)


@pytest.mark.parametrize("stamp", [
    lambda now: f"t={now - 1.4:.3f}",                 # seconds (nginx t=${msec})
    lambda now: f"t={int((now - 1.4) * 1000)}",       # milliseconds (Heroku)
    lambda now: f"t={int((now - 1.4) * 1e6)}",        # microseconds (HAProxy, Apache %t)
])
def test_time_queued_at_a_trusted_proxy_counts_toward_the_deadline(settings, runtime, stamp):
    client = _client(settings, runtime, ["10.0.0.0/8"])
    response = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json"),
                           headers={"X-Request-Start": stamp(time.time())})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"


@pytest.mark.parametrize(("trusted", "header"), [
    ([], "stale"),                                    # no proxy trusted
    (["192.168.0.0/16"], "stale"),                    # this client is not a trusted proxy
    (["10.0.0.0/8"], "t=not-a-time"),                 # unreadable stamp
    (["10.0.0.0/8"], "future"),                       # a stamp in the future is a clock problem
    (["10.0.0.0/8"], "ancient"),                      # so is one older than a minute
])
def test_an_untrusted_or_unbelievable_stamp_is_ignored(settings, runtime, trusted, header):
    now = time.time()
    value = {"stale": f"t={now - 1.4:.3f}", "future": f"t={now + 30:.3f}", "ancient": f"t={now - 3600:.3f}"}.get(
        header, header)
    client = _client(settings, runtime, trusted)
    response = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json"),
                           headers={"X-Request-Start": value})
    assert response.status_code == 200


def test_a_client_that_is_not_an_address_is_never_trusted(settings, runtime):
    client = _client(settings, runtime, ["10.0.0.0/8"], client=("testclient", 50000))
    response = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json"),
                           headers={"X-Request-Start": f"t={time.time() - 1.4:.3f}"})
    assert response.status_code == 200
