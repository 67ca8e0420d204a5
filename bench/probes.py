"""Probe latency under load (run on demand: `make bench`): does `/healthz` (and discovery) answer
fast while the service is saturated with large requests?

Prints the probes' latency on the idle service (the floor, same run) and while client threads
keep large order-sign requests in flight (500 Observations, 100 MedicationRequests each).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import threading
import time

import requests

from bench.server import served
from cds import PROJECT_ROOT
from cds.fixtures import render_fixture


def large_request(observations: int = 500, medications: int = 100) -> dict:
    """A real fixture request, its record padded with repeated results and orders (distinct ids)."""
    request = render_fixture(PROJECT_ROOT / "fhir_fixtures" / "requests" / "esc-weekly-draft.json")
    for key, count in (("observations", observations), ("medications", medications)):
        bundle = request["prefetch"][key]
        seeds = [entry["resource"] for entry in bundle["entry"]]
        bundle["entry"] = [{"resource": {**copy.deepcopy(seeds[i % len(seeds)]), "id": f"{key}-{i}"}}
                           for i in range(count)]
    return request


def probe_ms(base: str, path: str, seconds: float) -> list[float]:
    latencies, session, stop = [], requests.Session(), time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        session.get(f"{base}{path}", timeout=10).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8, help="probing time per phase (bounded)")
    parser.add_argument("--concurrency", type=int, default=8, help="large requests kept in flight")
    args = parser.parse_args()
    body = large_request()
    with served() as base:
        requests.post(f"{base}/cds-services/b12-order-sign", json=body, timeout=10).raise_for_status()
        idle = {path: probe_ms(base, path, args.seconds / 2) for path in ("/healthz", "/cds-services")}
        running, served_count = True, [0]

        def load() -> None:
            session = requests.Session()
            while running:
                session.post(f"{base}/cds-services/b12-order-sign", json=body, timeout=30)
                served_count[0] += 1

        threads = [threading.Thread(target=load, daemon=True) for _ in range(args.concurrency)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        busy = {path: probe_ms(base, path, args.seconds) for path in ("/healthz", "/cds-services")}
        running = False
        for thread in threads:
            thread.join(timeout=30)
    for path in idle:
        for phase, found in (("idle (floor)", idle[path]), (f"{args.concurrency} large in flight", busy[path])):
            q = statistics.quantiles(found, n=20)
            print(f"{path:14} {phase:22} n {len(found):4}  p50 {q[9]:6.1f} ms  p95 {q[18]:6.1f} ms  "
                  f"max {max(found):6.1f} ms")
    print(f"large requests served during the busy phases: {served_count[0]}")


if __name__ == "__main__":
    main()
