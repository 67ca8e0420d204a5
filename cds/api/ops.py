"""Operations: liveness, readiness and metrics. Async, so a probe never waits for a worker thread."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from cds import metrics as exported
from cds.api import deps

router = APIRouter(tags=["Operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: deps.RuntimeDep) -> JSONResponse:
    """Rules in force (digest, pack versions), whether their examples gate loading, load warnings, the
    last reload's errors, and the answering worker process (each loads and reloads its own rules)."""
    rulebook = runtime.current.rulebook
    body: dict[str, Any] = {"status": "ready", "rules": len(rulebook.rules()), "rulesDigest": rulebook.digest,
                            "packs": {p.name: p.version for p in rulebook.packs.values()},
                            "ruleExamples": "checked" if runtime.check_examples else "skipped",
                            "worker": os.getpid()}
    warnings = [str(warning) for warning in rulebook.warnings]
    if not runtime.check_examples:
        warnings.insert(0, "rule examples are not checked on load: rules go live even if their own examples fail")
    if warnings:
        body["warnings"] = warnings
    if runtime.last_error is not None:
        body["reloadErrors"] = [str(error) for error in runtime.last_error.errors]
    return JSONResponse(body)


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus text; with several worker processes, the counts of all of them."""
    return Response(exported.exposition(), media_type=CONTENT_TYPE_LATEST)
