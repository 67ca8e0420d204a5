"""Probe latency under load: do `/healthz` and discovery answer fast while the service is
saturated with large requests? Measured on the idle service (the floor, same run), then while
the load generator keeps large order-sign requests in flight."""

from __future__ import annotations

import time
from typing import Any

import requests

from bench.load import LoadGenerator, Target, percentile

PATHS = ("/healthz", "/cds-services")
PAUSE_S = 0.02   # between probes: a probe every ~20 ms, like a busy orchestrator, not a load


def probe_section(generator: LoadGenerator, base: str, target: Target, concurrency: int,
                  seconds: float) -> dict[str, Any]:
    """Probe latency idle and under `concurrency` large requests, and how those requests fared."""
    idle = {path: _stats(_probe_ms(base, path, seconds / 2)) for path in PATHS}
    cell = generator.start(target, concurrency, warmup_s=0.5, duration_s=seconds * len(PATHS))
    time.sleep(max(0.0, cell.warm_until - time.monotonic()))
    busy = {path: _stats(_probe_ms(base, path, seconds)) for path in PATHS}
    return {"concurrency": concurrency, "paths": {path: {"idle": idle[path], "busy": busy[path]} for path in PATHS},
            "load": cell.result().summary()}


def _probe_ms(base: str, path: str, seconds: float) -> list[float]:
    latencies, session, stop = [], requests.Session(), time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        session.get(f"{base}{path}", timeout=10).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(PAUSE_S)
    return latencies


def _stats(latencies: list[float]) -> dict[str, Any]:
    return {"n": len(latencies), **{f"p{q}_ms": round(percentile(latencies, q) or 0.0, 2) for q in (50, 95, 100)}}
