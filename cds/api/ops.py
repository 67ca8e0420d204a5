"""Operations: liveness, readiness and metrics. Async, so a probe never waits for a worker thread."""

from __future__ import annotations

import os
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from cds import metrics as exported
from cds.api import deps
from cds.store.feedback import FeedbackStore
from cds.timeouts import BoundedCalls, NoAnswer

router = APIRouter(tags=["Operations"])
PROBE_TIMEOUT_S = 0.2
_probes = BoundedCalls("store-probe", 1, PROBE_TIMEOUT_S)


class Health(BaseModel):
    status: Literal["ok"] = Field(description="The process answers (liveness)")


class Readiness(BaseModel):
    status: Literal["ready"] = Field(description="Rules are loaded: the service answers calls")
    rules: int = Field(description="Rules in force")
    rulesDigest: str = Field(description="Digest of the rule files in force (the same on every worker that "
                                         "loaded the same files)")
    profile: str = Field(description="Site profile in force (rules/profiles/<profile>.yaml)")
    packs: dict[str, str] = Field(description="Version of each rule pack in force, by pack name")
    ruleExamples: Literal["checked", "skipped"] = Field(description="Whether the rules' own examples had to pass "
                                                                    "before they were loaded")
    worker: int = Field(description="Process id of the worker that answered (each loads its own rules)")
    store: str = Field(description="The store: ok, read-only or unavailable (why); calls are answered either way")
    replayCache: str | None = Field(None, description="With auth jwt: whether JWT replays are refused across "
                                                      "workers (shared) or by this worker only (store unavailable)")
    warnings: list[str] = Field(default=[], description="Load warnings of the rules in force (absent when none)")
    reloadErrors: list[str] = Field(default=[], description="Why the last reload was refused (absent after a "
                                                            "good one): the rules in force are the previous ones")


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness)
async def readyz(request: Request, runtime: deps.RuntimeDep, store: deps.StoreDep) -> JSONResponse:
    """Rules in force (digest, site profile, pack versions), whether their examples gate loading, load warnings, the
    last reload's errors, the answering worker process (each loads and reloads its own rules) and the
    store's state. Ready (200) while rules are loaded, whatever the store's state: calls are answered
    without it, and a load balancer must not drop every replica when the database is down."""
    rulebook = runtime.current.rulebook
    body: dict[str, Any] = {"status": "ready", "rules": len(rulebook.rules()), "rulesDigest": rulebook.digest,
                            "profile": rulebook.profile,
                            "packs": {p.name: p.version for p in rulebook.packs.values()},
                            "ruleExamples": "checked" if runtime.check_examples else "skipped",
                            "worker": os.getpid(), "store": await to_thread.run_sync(_store_state, store)}
    verifier = request.app.state.verifier
    if verifier is not None:
        body["replayCache"] = "shared" if verifier.replay.shared_answers else "this worker only (store unavailable)"
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


def _store_state(store: FeedbackStore) -> str:
    """"ok", "read-only" or "unavailable (why)": a write that changes nothing, given PROBE_TIMEOUT_S."""
    try:
        _probes.call(store.check_writable)
    except NoAnswer as error:
        return f"unavailable ({error})"
    except Exception as error:  # whatever the database or its driver says
        text = str(getattr(error, "orig", None) or error).lower()
        return "read-only" if "read-only" in text or "readonly" in text else f"unavailable ({type(error).__name__})"
    return "ok"
