"""FastAPI app: discovery, service calls, feedback, health, readiness and metrics."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cds.api.auth import install_auth, require_token
from cds.api.limits import BodyLimitMiddleware
from cds.config import Settings
from cds.feedback import FeedbackRequest, FeedbackStore
from cds.fhir.client import DataUnavailable
from cds.fhir.gather import BadPrefetch
from cds.hooks import RequestProblem, parse_request
from cds.metrics import CARDS, FEEDBACK, LATENCY, REQUESTS
from cds.pipeline import run_service
from cds.runtime import RuleRuntime

log = logging.getLogger(__name__)


def problem(status: int, error: str, detail: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail or []}, status_code=status)


def create_app(settings: Settings | None = None, runtime: RuleRuntime | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = runtime or RuleRuntime(settings.rules)
    store = FeedbackStore(settings.feedback_url())
    app = FastAPI(title="Cobalt CDS", version="0.1.0",
                  description="CDS Hooks 2.0 service for vitamin B12 injection therapy")
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.feedback = store
    install_auth(app, settings, store.engine)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", "Accept"])

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return problem(500, "internal error")

    @app.get("/cds-services")
    def discovery() -> dict[str, Any]:
        rules = runtime.current
        return {"services": [
            {"hook": s.hook, "id": s.id, "title": s.title, "description": s.description,
             "prefetch": rules.prefetch, "usageRequirements": rules.rulebook.usage_requirements}
            for s in rules.rulebook.services.values()]}

    @app.post("/cds-services/{service_id}", dependencies=[Depends(require_token)])
    async def call_service(service_id: str, request: Request) -> Response:
        started = time.monotonic()
        rules = runtime.current
        service = rules.rulebook.services.get(service_id)
        if service is None:
            REQUESTS.labels("(unknown)", "404").inc()
            return problem(404, f"unknown service '{service_id}'")
        try:
            response = await _serve(rules, service, request, started)
        except Exception:
            REQUESTS.labels(service_id, "500").inc()
            raise
        REQUESTS.labels(service_id, str(response.status_code)).inc()
        LATENCY.labels(service_id).observe(time.monotonic() - started)
        return response

    async def _serve(rules: Any, service: Any, request: Request, started: float) -> Response:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            hook_request, context = parse_request(body, service.hook)
            outcome = await run_in_threadpool(run_service, rules, service, hook_request, context,
                                              settings, started)
        except RequestProblem as error:
            return problem(400, str(error), error.detail)
        except BadPrefetch as error:
            return problem(400, "invalid prefetch", [{"field": f"prefetch.{error.key}", "message": str(error)}])
        except DataUnavailable as error:
            return problem(412, f"required data unavailable: {error.key}",
                           [{"field": f"prefetch.{error.key}", "message": error.reason}])
        cards = outcome.response["cards"]
        for card in cards:
            CARDS.labels(card["source"]["topic"]["code"], card["indicator"]).inc()
        try:
            await run_in_threadpool(store.log_cards, service.id, cards)
        except SQLAlchemyError:  # the cards matter more than their log: answer, and say so loudly
            log.exception("could not log %d issued cards for %s", len(cards), service.id)
        return JSONResponse(outcome.response)

    @app.post("/cds-services/{service_id}/feedback", dependencies=[Depends(require_token)])
    async def post_feedback(service_id: str, request: Request) -> Response:
        if service_id not in runtime.current.rulebook.services:
            return problem(404, f"unknown service '{service_id}'")
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            parsed = FeedbackRequest.model_validate(body)
        except ValidationError as error:
            return problem(400, "invalid feedback", [
                {"field": ".".join(map(str, e["loc"])) or "(body)", "message": e["msg"]} for e in error.errors()])
        try:
            counts = await run_in_threadpool(store.store, service_id, parsed)
        except SQLAlchemyError:
            log.exception("could not store feedback for %s", service_id)
            return problem(503, "feedback store unavailable: nothing was stored, please retry")
        FEEDBACK.labels("stored").inc(counts["stored"])
        FEEDBACK.labels("repeat").inc(counts["alreadyStored"])
        return JSONResponse(counts)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        rulebook = runtime.current.rulebook
        body: dict[str, Any] = {"status": "ready", "rules": len(rulebook.rules()), "rulesDigest": rulebook.digest,
                                "packs": {p.name: p.version for p in rulebook.packs.values()}}
        if rulebook.warnings:
            body["warnings"] = [str(warning) for warning in rulebook.warnings]
        if runtime.last_error is not None:
            body["reloadErrors"] = [str(error) for error in runtime.last_error.errors]
        return JSONResponse(body)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return problem(400, "request body is not JSON", [{"field": "(body)", "message": "invalid JSON"}])
    except RecursionError:
        return problem(400, "request body is nested too deeply", [{"field": "(body)", "message": "too deep"}])
