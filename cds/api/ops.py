"""Operations: liveness, readiness and metrics. Async, so a probe never waits for a worker thread."""

from __future__ import annotations

import os
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from cds import metrics as exported
from cds.api import deps

router = APIRouter(tags=["Operations"])


class Health(BaseModel):
    status: Literal["ok"] = Field(description="The process answers (liveness)")


class Readiness(BaseModel):
    status: Literal["ready"] = Field(description="Rules are loaded: the service answers calls")
    rules: int = Field(description="Rules in force")
    rulesDigest: str = Field(description="Digest of the rule files in force (the same on every worker that "
                                         "loaded the same files)")
    packs: dict[str, str] = Field(description="Version of each rule pack in force, by pack name")
    ruleExamples: Literal["checked", "skipped"] = Field(description="Whether the rules' own examples had to pass "
                                                                    "before they were loaded")
    worker: int = Field(description="Process id of the worker that answered (each loads its own rules)")
    warnings: list[str] = Field(default=[], description="Load warnings of the rules in force (absent when none)")
    reloadErrors: list[str] = Field(default=[], description="Why the last reload was refused (absent after a "
                                                            "good one): the rules in force are the previous ones")


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness)
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
