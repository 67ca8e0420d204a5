"""`cds serve --workers 2`: one scrape of /metrics, whichever worker answers it, counts every call
of every worker (prometheus_client's multiprocess mode, a directory per run)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import fixture_request
from tests.live import cds_serve

SERVICE = "b12-order-sign"
CALLS = {"service": SERVICE, "status": "200"}
BATCH, MAX_CALLS = 8, 320   # calls at once (so that both workers accept some), and in all


def _calls_by_worker(metrics_dir: Path, scratch: Path) -> dict[str, float]:
    """Calls counted in each worker's own file (read one file at a time)."""
    counted = {}
    for file in metrics_dir.glob("counter_*.db"):
        alone = scratch / file.stem
        alone.mkdir(exist_ok=True)
        shutil.copy(file, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        counted[file.stem.removeprefix("counter_")] = registry.get_sample_value("cds_requests_total", CALLS) or 0.0
    return counted


def _serving(by_worker: dict[str, float]) -> list[str]:
    return [pid for pid, calls in by_worker.items() if calls]


def _scraped(base: str) -> tuple[float, set[str]]:
    """One scrape on a fresh connection: the calls it counts and the worker pids whose gauges it has."""
    text = requests.get(f"{base}/metrics", timeout=5, headers={"Connection": "close"}).text
    calls, pids = 0.0, set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "cds_requests_total" and sample.labels == CALLS:
                calls = sample.value
            if sample.name == "cds_rules_loaded":
                pids.add(sample.labels["pid"])
    return calls, pids


def test_one_scrape_counts_the_calls_of_every_worker(tmp_path):
    request = fixture_request("requests/unit-error-1000mg.json")
    temp = tmp_path / "tmp"
    temp.mkdir()
    with cds_serve("--workers", "2", data_dir=str(tmp_path), env={"TMPDIR": str(temp)}) as base:
        [metrics_dir] = temp.glob("cds-metrics-*")
        def call(_: int) -> int:
            return requests.post(f"{base}/cds-services/{SERVICE}", json=request, timeout=10,
                                 headers={"Connection": "close"}).status_code

        sent = 0
        with ThreadPoolExecutor(BATCH) as pool:
            while sent < MAX_CALLS and len(_serving(_calls_by_worker(metrics_dir, tmp_path))) < 2:
                assert set(pool.map(call, range(BATCH))) == {200}
                sent += BATCH
        by_worker = _calls_by_worker(metrics_dir, tmp_path)
        scrapes = [_scraped(base) for _ in range(8)]
    assert len(_serving(by_worker)) >= 2, by_worker          # calls were served by more than one worker
    assert sum(by_worker.values()) == sent
    assert all(calls == sent for calls, _ in scrapes), (sent, scrapes)
    assert all(len(pids) == 2 and pids <= set(by_worker) for _, pids in scrapes), scrapes   # the live workers
