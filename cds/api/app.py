"""The FastAPI app: routers for the CDS Hooks endpoints, feedback and operations, one error shape."""

from __future__ import annotations

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cds.api import errors, feedback, openapi, ops, services
from cds.api.arrival import ArrivalMiddleware
from cds.api.auth import install_auth
from cds.api.limits import BodyLimitMiddleware
from cds.config import Settings
from cds.feedback import FeedbackStore
from cds.runtime import RuleRuntime


def create_app(settings: Settings | None = None, runtime: RuleRuntime | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="Cobalt CDS", version="0.1.0",
                  description="CDS Hooks 2.0 service for vitamin B12 injection therapy")
    app.state.settings = settings
    app.state.runtime = runtime or RuleRuntime(settings.rules, check_examples=not settings.reload_skip_examples)
    app.state.feedback = FeedbackStore(settings.feedback_url())
    app.state.evaluations = CapacityLimiter(settings.evaluation_slots)
    install_auth(app, settings, app.state.feedback.engine)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(ArrivalMiddleware)   # added last, so it runs first
    errors.install(app)
    for router in (services.router, feedback.router, ops.router):
        app.include_router(router)
    openapi.install(app)
    return app
