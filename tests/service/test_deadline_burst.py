"""A burst of large requests against a real `cds serve` process (service.md rev 2: the deadline
counts from arrival, time queued included; load is shed at admission with 503 and Retry-After,
never by cutting an admitted evaluation short)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.bodies import LARGE, MAIN_CASE, padded_request
from tests.live import cds_serve

pytestmark = pytest.mark.usefixtures("settled_heap")   # timed against the deadline

DEADLINE_S = 1.0
MARGIN_S = 0.5      # loopback transfer of the body and uvicorn's own queue, outside the service's clock
BURST = 40


def _topics(response: requests.Response) -> set[str]:
    return {card["source"]["topic"]["code"] for card in response.json()["cards"]}


def test_a_burst_is_answered_within_the_deadline_and_admitted_calls_lose_no_card(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_DEADLINE_S", str(DEADLINE_S))
    body = padded_request(MAIN_CASE.fixture, LARGE)      # 500 Observations, 100 MedicationRequests, 20 Conditions
    url_path = f"/cds-services/{MAIN_CASE.service}"
    with cds_serve(data_dir=str(tmp_path)) as base:
        reference = requests.post(base + url_path, json=body, timeout=10)
        assert reference.status_code == 200
        expected = _topics(reference)
        assert MAIN_CASE.expected <= expected and "service.incomplete" not in expected
        start = threading.Barrier(BURST)

        def call(_: int) -> tuple[float, requests.Response]:
            session = requests.Session()
            start.wait()
            sent = time.monotonic()
            response = session.post(base + url_path, json=body, timeout=10)
            return time.monotonic() - sent, response

        with ThreadPoolExecutor(BURST) as pool:
            answers = list(pool.map(call, range(BURST)))

    statuses = [response.status_code for _, response in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1
    for elapsed, response in answers:
        assert elapsed <= DEADLINE_S + MARGIN_S, f"answered after {elapsed:.2f} s ({response.status_code})"
        if response.status_code == 200:
            assert _topics(response) == expected      # admitted: every pack ran, no card lost
        else:
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"] == "service busy: retry"
