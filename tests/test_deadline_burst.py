"""A burst of large requests against a real `cds serve` process (service.md rev 2: the deadline
counts from arrival, time queued included; load is shed at admission with 503 and Retry-After,
never by cutting an admitted evaluation short)."""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import fixture_request
from tests.live import cds_serve

DEADLINE_S = 1.0
MARGIN_S = 0.5      # loopback transfer of the body and uvicorn's own queue, outside the service's clock
BURST = 40


def large_request(observations: int = 500, medications: int = 100) -> dict:
    """A real fixture, its results copied up to `observations` (distinct ids) and its B12 orders
    joined by other drugs' orders up to `medications`, as in a long record."""
    request = fixture_request("requests/esc-weekly-draft.json")
    results = request["prefetch"]["observations"]["entry"]
    request["prefetch"]["observations"]["entry"] = [
        {"resource": {**copy.deepcopy(results[i % len(results)]["resource"]), "id": f"observation-{i}"}}
        for i in range(observations)]
    orders = request["prefetch"]["medications"]["entry"]
    orders += [{"resource": {**copy.deepcopy(orders[0]["resource"]), "id": f"other-{i}",
                             "medicationCodeableConcept": AMOXICILLIN}} for i in range(medications - len(orders))]
    return request


AMOXICILLIN = {"text": "Amoxicillin 500 MG Oral Capsule",
               "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "308191"}]}


def _topics(response: requests.Response) -> set[str]:
    return {card["source"]["topic"]["code"] for card in response.json()["cards"]}


def test_a_burst_is_answered_within_the_deadline_and_admitted_calls_lose_no_card(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_DEADLINE_S", str(DEADLINE_S))
    body = large_request()
    url_path = "/cds-services/b12-order-sign"
    with cds_serve(data_dir=str(tmp_path)) as base:
        reference = requests.post(base + url_path, json=body, timeout=10)
        assert reference.status_code == 200
        expected = _topics(reference)
        assert "escalation.increase-without-review" in expected and "service.incomplete" not in expected
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
