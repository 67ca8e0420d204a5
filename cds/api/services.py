"""Discovery and service calls (the CDS Hooks endpoints)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from cds.api import deps
from cds.api.admission import Admission, DeadlineReached, Overloaded, Slots
from cds.api.auth import require_token, token_issuer
from cds.api.errors import ApiError, responses
from cds.api.instances import HookInstanceWatch, event_keys
from cds.config import Settings
from cds.facts.recorded import recorded_evaluation
from cds.fhir.allowlist import MalformedServer, ServerAllowlist, check_url
from cds.fhir.gather import BadPrefetch, MissingData
from cds.generation import LoadedRules
from cds.hooks import RequestProblem, draft_resources, parse_request
from cds.metrics import CARDS, LATENCY, REQUESTS
from cds.pipeline import Outcome, cut_short, run_service
from cds.rulebook.model import Service
from cds.stages import StageClock
from cds.store.cardlog import CardLogWriter

log = logging.getLogger(__name__)
router = APIRouter(tags=["CDS Hooks"])


def fhir_servers(request: Request) -> ServerAllowlist:
    """The FHIR servers this call may have the service contact: its token's issuer's list with
    auth on, else the service's own (`--fhir-servers`; any http(s) server when unset)."""
    issuer = token_issuer(request)
    return issuer.fhir_servers if issuer is not None else request.app.state.fhir_servers


class ServiceDescription(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usageRequirements: str


class Discovery(BaseModel):
    services: list[ServiceDescription]


class CdsResponse(BaseModel):
    """Cards (see service.md "Cards") and system actions; both always present."""

    model_config = ConfigDict(extra="allow")
    cards: list[dict[str, Any]]
    systemActions: list[dict[str, Any]]


@router.get("/cds-services", response_model=Discovery)
async def discovery(rules: deps.RulesDep) -> dict[str, Any]:
    book = rules.rulebook
    return {"services": [
        {"hook": s.hook, "id": s.id, "title": s.title,
         "description": f"{s.description} Site profile: {book.profile} ({book.profile_title}).",
         "prefetch": rules.prefetch, "usageRequirements": " ".join(filter(None, (book.usage_requirements,
                                                                              s.usage_requirements)))}
        for s in book.services.values()]}


@router.post("/cds-services/{service_id}", response_model=CdsResponse, dependencies=[Depends(require_token)],
             responses=responses(400, 401, 404, 408, 412, 413, 415, 503))
async def call_service(request: Request, service: deps.ServiceDep, rules: deps.RulesDep,
                       settings: deps.SettingsDep, card_log: deps.CardLogDep, started: deps.ArrivalDep,
                       evaluations: deps.EvaluationsDep, instances: deps.HookInstancesDep) -> JSONResponse:
    """Evaluate the service's rules on the request's data and answer with cards. Every answer,
    a bad body included, is counted under the service's id."""
    try:
        body = await deps.json_body(request)
        response = await _evaluate(service, rules, settings, card_log, body, started, evaluations,
                                   request.state.body_bytes, fhir_servers(request), instances)
    except ApiError as error:
        REQUESTS.labels(service.id, str(error.status)).inc()
        raise
    except Exception:
        REQUESTS.labels(service.id, "500").inc()
        raise
    REQUESTS.labels(service.id, "200").inc()
    LATENCY.labels(service.id).observe(time.monotonic() - started)
    return response


def _recording(rules: LoadedRules, outcome: Outcome | None) -> Callable[[], dict[str, Any]] | None:
    """What makes the call's recorded evaluation, when every rule ran (made by the card log's writer)."""
    if outcome is None or outcome.evaluated is None:
        return None
    book = rules.rulebook
    return partial(recorded_evaluation, outcome.evaluated, outcome.about, outcome.response["cards"], outcome.silent,
                   book.digest, book.profile)


async def _evaluate(service: Service, rules: LoadedRules, settings: Settings, card_log: CardLogWriter,
                    body: Any, started: float, evaluations: Admission, size: int,
                    allowlist: ServerAllowlist, instances: HookInstanceWatch) -> JSONResponse:
    try:
        clock = StageClock()
        hook_request, context = parse_request(body, service.hook)
        if hook_request.fhirServer:
            check_url(hook_request.fhirServer)
        clock.mark("request")
        deadline = started + settings.deadline_s
        turn = Slots.turn(started, size)
        evaluations.admit(deadline, turn)
        outcome = await evaluations.run(partial(run_service, rules, service, hook_request, context, settings, started,
                                                clock=clock, fhir_servers=allowlist), deadline, turn)
        response = outcome.response
    except DeadlineReached:
        response, outcome = cut_short(rules, service, hook_request, context), None
    except RequestProblem as error:
        raise ApiError(400, str(error), error.detail) from None
    except MalformedServer as error:
        raise ApiError(400, "invalid CDS Hooks request", [{"field": "fhirServer", "message": str(error)}]) from None
    except BadPrefetch as error:
        raise ApiError(400, "invalid prefetch", [{"field": f"prefetch.{error.key}", "message": str(error)}]) from None
    except Overloaded as error:
        raise ApiError(503, "service busy: retry", [{"field": "(request)", "message": str(error)}],
                       headers={"Retry-After": "1"}) from None
    except MissingData as error:
        for failure in error.failures:
            log.warning("412 for %s: prefetch %s unavailable: %s", service.id, failure.key, failure.reason)
        raise ApiError(412, f"required data unavailable: {error}",
                       [{"field": f"prefetch.{failure.key}", "message": failure.public}
                        for failure in error.failures]) from None
    cards = response["cards"]
    for card in cards:
        CARDS.labels(card["source"]["topic"]["code"], card["indicator"]).inc()
    card_log.submit(service.id, hook_request.hookInstance, context.patientId, cards,   # written off the hot path
                    outcome.silent if outcome else None, _recording(rules, outcome) if settings.record_facts else None)
    drafts = [f"{r.get('resourceType')}/{r['id']}" for r in draft_resources(context)[0] if isinstance(r.get("id"), str)]
    instances.seen(event_keys(hook_request.hookInstance, context.patientId, drafts), service.id)
    return JSONResponse(response, headers={"Server-Timing": clock.server_timing()})
