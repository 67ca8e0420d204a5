"""The FastAPI app: routers for the CDS Hooks endpoints, feedback and operations, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cds.analytics import page
from cds.api import analytics, errors, feedback, openapi, ops, services
from cds.api.admission import Admission
from cds.api.arrival import ArrivalMiddleware
from cds.api.auth import install_auth
from cds.api.limits import BodyLimitMiddleware
from cds.cardlog import CardLogWriter
from cds.config import Settings
from cds.feedback import FeedbackStore
from cds.logs import RequestIdMiddleware
from cds.patient_hash import patient_hasher
from cds.runtime import RuleRuntime


@asynccontextmanager
async def _card_log_running(app: FastAPI) -> AsyncIterator[None]:
    """The card log's writer runs while the app serves; at shutdown it writes what is queued."""
    app.state.card_log.start()
    yield
    await to_thread.run_sync(app.state.card_log.close)


def create_app(settings: Settings | None = None, runtime: RuleRuntime | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="Cobalt CDS", version="0.1.0", docs_url=None, redoc_url=None,   # /docs: cds.api.openapi
                  description="CDS Hooks 2.0 service for vitamin B12 injection therapy", lifespan=_card_log_running)
    app.state.settings = settings
    app.state.runtime = runtime or RuleRuntime(settings.rules, check_examples=not settings.reload_skip_examples)
    app.state.feedback = FeedbackStore(settings.feedback_url())
    app.state.card_log = CardLogWriter(app.state.feedback, patient_hasher(settings), settings.card_log_retention_days)
    app.state.evaluations = Admission(settings.evaluation_slots, settings.admission_min_left_s)
    install_auth(app, settings, app.state.feedback.engine)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)  # after the arrival stamp,
    app.add_middleware(ArrivalMiddleware, trusted_proxies=settings.trusted_proxies)   # which sees the proxy: runs first
    errors.install(app)
    for router in (services.router, feedback.router, ops.router, analytics.router):
        app.include_router(router)
    page.install(app)
    openapi.install(app)
    return app
