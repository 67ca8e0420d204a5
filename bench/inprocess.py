"""In-process timing of one service call, stage by stage (no HTTP): the per-stage breakdown and the
scaling table. A call is the service's own path: JSON parse, request validation, then
`run_service` with a StageClock (queue, fhir, facts, engine, cards)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bench.bodies import Case, Size, body
from bench.load import card_topics
from bench.server import SERVICE_ENV
from cds import BUNDLED_RULES
from cds.api.body import decode_json
from cds.config import Settings
from cds.hooks import parse_request
from cds.pipeline import run_service
from cds.runtime import RuleRuntime
from cds.stages import StageClock

T = TypeVar("T")
BODY_STAGE = "body"   # JSON parse of the request body; the other stages are named by the service


class InProcess:
    """The bundled rules loaded once (and frozen out of GC passes, as `cds serve` does)."""

    def __init__(self) -> None:
        self.rules = RuleRuntime(BUNDLED_RULES).current
        gc.freeze()
        # No store is opened in-process, so the data directory is never created.
        self.settings = Settings(deadline_s=60, fhir_max_resources=int(SERVICE_ENV["CDS_FHIR_MAX_RESOURCES"]))

    def call(self, case: Case, raw: bytes) -> tuple[dict[str, float], bool]:
        """Seconds per stage of one call, and whether the answer carried the expected cards."""
        service = self.rules.rulebook.services[case.service]
        clock = StageClock()
        decoded = decode_json(raw)
        clock.mark(BODY_STAGE)
        request, context = parse_request(decoded, service.hook)
        clock.mark("request")
        outcome = run_service(self.rules, service, request, context, self.settings, time.monotonic(), clock=clock)
        return clock.seconds, case.expected <= card_topics(outcome.response["cards"])

    def stages(self, case: Case, size: Size, calls: int, budget_s: float) -> dict[str, Any]:
        """Median ms per stage over warm calls, each stage's share of the median total."""
        raw = body(case, size)
        runs = _repeat(lambda: self.call(case, raw), calls, budget_s)
        medians = {stage: statistics.median(run[0].get(stage, 0.0) for run in runs) * 1000 for stage in runs[0][0]}
        total = sum(medians.values())
        return {"size": size.name, "calls": len(runs), "cards_ok": all(ok for _, ok in runs),
                "total_ms": round(total, 2),
                "stages": {stage: {"ms": round(ms, 3), "share": round(ms / total, 3) if total else 0.0}
                           for stage, ms in medians.items()}}

    def scaling(self, case: Case, sizes: list[Size], calls: int, budget_s: float) -> list[dict[str, Any]]:
        """Median ms per call (and of it, the body's JSON parse) as the record grows, and ms per
        Observation added since the row before."""
        rows: list[dict[str, Any]] = []
        for size in sizes:
            raw, count = body(case, size), size.observations
            runs = _repeat(lambda raw=raw: self.call(case, raw), calls, budget_s)
            ms = statistics.median(sum(seconds.values()) for seconds, _ in runs) * 1000
            parse_ms = statistics.median(seconds[BODY_STAGE] for seconds, _ in runs) * 1000
            before = rows[-1] if rows else None
            added = (ms - before["ms"]) / (count - before["observations"]) if before else None
            rows.append({"observations": count, "body_kb": round(len(raw) / 1024), "calls": len(runs),
                         "cards_ok": all(ok for _, ok in runs), "ms": round(ms, 2), "parse_ms": round(parse_ms, 2),
                         "ms_per_added_observation": None if added is None else round(added, 4)})
        return rows


def _repeat(call: Callable[[], T], calls: int, budget_s: float) -> list[T]:
    """One warm-up call, then up to `calls` (at least one) while the budget lasts."""
    call()
    stop, results = time.monotonic() + budget_s, [call()]
    while len(results) < calls and time.monotonic() < stop:
        results.append(call())
    return results
