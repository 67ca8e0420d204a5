"""The FastAPI app: routers for the CDS Hooks endpoints, feedback and operations, one error shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cds.analytics.alarms import AlarmSettings
from cds.analytics.monitor import AlarmMonitor
from cds.api import analytics, console, errors, feedback, openapi, ops, services
from cds.api.admission import Admission
from cds.api.arrival import ArrivalMiddleware
from cds.api.auth import install_auth
from cds.api.instances import HookInstanceWatch
from cds.api.limits import BodyReader
from cds.config import Settings
from cds.facts.recorded import fact_model, fact_model_version
from cds.fhir.allowlist import ServerAllowlist
from cds.logs import RequestIdMiddleware
from cds.patient_hash import patient_hasher
from cds.runtime import RuleRuntime
from cds.store.cardlog import CardLogWriter
from cds.store.feedback import FeedbackStore

log = logging.getLogger(__name__)


@asynccontextmanager
async def _card_log_running(app: FastAPI) -> AsyncIterator[None]:
    """The card log's writer and the alarm monitor run while the app serves (the monitor woken by each reload
    of its rules); at shutdown the writer writes what is queued."""
    app.state.card_log.start()
    app.state.monitor.start()
    app.state.runtime.on_reload.append(app.state.monitor.wake)
    yield
    app.state.runtime.on_reload.remove(app.state.monitor.wake)
    await to_thread.run_sync(app.state.monitor.close)
    await to_thread.run_sync(app.state.card_log.close)


SANDBOX_ORIGINS = r"https://sandbox\.cds-hooks\.org|http://(localhost|127\.0\.0\.1)(:\d+)?"


def cors_origins(settings: Settings) -> dict[str, Any]:
    """The browser origins that may call the service: those configured; by default the CDS Hooks
    Sandbox's (its public site, or one run on this machine) with auth off, and none with auth on."""
    if settings.cors_origins is not None:
        return {"allow_origins": settings.cors_origins}
    return {"allow_origin_regex": SANDBOX_ORIGINS} if settings.auth == "none" else {"allow_origins": []}


def create_app(settings: Settings | None = None, runtime: RuleRuntime | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="Cobalt CDS", version="0.1.0", docs_url=None, redoc_url=None,   # /docs: cds.api.openapi
                  description="CDS Hooks 2.0 service for vitamin B12 injection therapy", lifespan=_card_log_running)
    app.state.settings = settings
    app.state.runtime = runtime or RuleRuntime(settings.rules, check_examples=not settings.reload_skip_examples,
                                               profile=settings.profile)
    app.state.feedback = FeedbackStore(settings.feedback_url())
    if settings.record_facts:
        app.state.feedback.note_fact_model(fact_model_version(), fact_model())
    app.state.card_log = CardLogWriter(app.state.feedback, patient_hasher(settings), settings.card_log_retention_days)
    runtime = app.state.runtime
    app.state.monitor = AlarmMonitor(app.state.feedback, lambda: runtime.current.rulebook, AlarmSettings.of(settings),
                                     settings.alarm_interval_s)
    app.state.evaluations = Admission(settings.evaluation_slots, settings.admission_min_left_s)
    app.state.hook_instances = HookInstanceWatch()
    app.state.report_slot = CapacityLimiter(1)
    app.state.body_reader = BodyReader(settings.max_body_bytes, settings.body_timeout_s, settings.body_reads)
    install_auth(app, settings, app.state.feedback.engine)
    app.state.fhir_servers = ServerAllowlist(settings.fhir_servers)
    if settings.auth == "jwt" and settings.fhir_servers is not None:
        log.warning("--fhir-servers is ignored with --auth jwt: each issuer's fhir_servers decide")
    app.add_middleware(CORSMiddleware, **cors_origins(settings), allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)  # after the arrival stamp,
    app.add_middleware(ArrivalMiddleware, trusted_proxies=settings.trusted_proxies)   # which sees the proxy: runs first
    errors.install(app)
    for router in (services.router, feedback.router, ops.router, analytics.router):
        app.include_router(router)
    console.install(app)
    openapi.install(app)
    return app
