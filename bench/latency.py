"""Latency and throughput of the service over HTTP on 127.0.0.1 (run on demand: `make bench`).

Starts `cds serve` on a free loopback port, sends a bounded number of requests built from the
fixtures (mixed patients and services) from a few client threads, and prints percentiles.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.server import served
from cds import PROJECT_ROOT
from cds.fixtures import render_fixture

CASES = [
    ("requests/neuro-oral-draft.json", "b12-order-sign"),
    ("requests/unit-error-1000mg.json", "b12-order-sign"),
    ("requests/no-labs-im-draft.json", "b12-order-sign"),
    ("requests/neuro-monthly-im-draft.json", "b12-order-select"),
    ("requests/maintenance-patient-view.json", "b12-patient-view"),
    ("services/b12-label-check.json", "b12-label-check"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="total requests (bounded)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    args = parser.parse_args()
    with served() as base:
        bodies = [(render_fixture(PROJECT_ROOT / "fhir_fixtures" / name), service) for name, service in CASES]
        session = requests.Session()
        for body, service in bodies:  # warm up
            session.post(f"{base}/cds-services/{service}", json=body, timeout=5).raise_for_status()

        def one(index: int) -> float:
            body, service = bodies[index % len(bodies)]
            started = time.perf_counter()
            response = requests.post(f"{base}/cds-services/{service}", json=body, timeout=5)
            response.raise_for_status()
            return (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            latencies = sorted(pool.map(one, range(args.requests)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"requests {len(latencies)}  concurrency {args.concurrency}  elapsed {elapsed:.2f} s")
    print(f"latency ms  p50 {quantiles[49]:.1f}  p95 {quantiles[94]:.1f}  p99 {quantiles[98]:.1f}  "
          f"max {latencies[-1]:.1f}")
    print(f"throughput {len(latencies) / elapsed:.0f} requests/s")


if __name__ == "__main__":
    main()
