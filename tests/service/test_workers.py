"""`cds serve --workers 2 --reload-rules`: each worker process watches and reloads its own rules."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from tests.conftest import fixture_request
from tests.live import cds_serve, save_until

SUMMARY = ("likely mg/mcg mix-up", "probable mg/mcg mix-up")


def _poll_workers(base: str, done: Callable[[dict[int, dict]], bool], timeout: float = 60.0) -> dict[int, dict]:
    """/readyz on fresh connections (each may reach another worker) until `done(latest answer by worker pid)`."""
    latest: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while not done(latest):
        assert time.monotonic() < deadline, f"workers seen: {sorted(latest)}"
        ready = requests.get(f"{base}/readyz", timeout=5, headers={"Connection": "close"}).json()
        latest[ready["worker"]] = ready
        time.sleep(0.02)
    return latest


def test_every_worker_serves_an_edited_rule(tmp_path, rules_copy):
    request = fixture_request("requests/unit-error-1000mg.json")
    with cds_serve("--workers", "2", "--reload-rules", "--rules", str(rules_copy), data_dir=str(tmp_path)) as base:
        before = _poll_workers(base, lambda seen: len(seen) == 2)
        [digest] = {ready["rulesDigest"] for ready in before.values()}
        after: dict[int, dict] = {}

        def every_worker_reloaded() -> bool:
            ready = requests.get(f"{base}/readyz", timeout=5, headers={"Connection": "close"}).json()
            after[ready["worker"]] = ready
            return set(after) >= set(before) and all(after[pid]["rulesDigest"] != digest for pid in before)

        save_until(rules_copy / "packs" / "units.yaml", *SUMMARY, every_worker_reloaded, "every worker to reload")
        summaries = {requests.post(f"{base}/cds-services/b12-order-sign", json=request, timeout=10,
                                   headers={"Connection": "close"}).json()["cards"][0]["summary"]
                     for _ in range(20)}
    assert len({ready["rulesDigest"] for ready in after.values()}) == 1
    assert all("reloadErrors" not in ready for ready in after.values())
    assert all(SUMMARY[1] in summary for summary in summaries), summaries
