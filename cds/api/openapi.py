"""The OpenAPI document as the service really behaves, and Swagger UI on /docs.

The document has the CDS Hooks request and feedback bodies (validated by the service, not by
FastAPI), no 422 (never answered), the service ids of the rules in force as an enum, each service's
fixture request (fhir_fixtures/services/<id>.json) as its example, and the bearer JWT that service
calls, feedback and analytics need with `--auth jwt`. Swagger UI's files come from the
fastapi-offline package and are served by the service itself: /docs works with no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from cds import PROJECT_ROOT
from cds.fixtures import render_fixture
from cds.hooks import HookRequest, MedicationPrescribeContext, OrderContext, OrderSelectContext, PatientViewContext
from cds.store.feedback import FeedbackRequest

_REF = "#/components/schemas/{model}"
SERVICE_EXAMPLES = PROJECT_ROOT / "fhir_fixtures" / "services"
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
STATIC = "/docs/static"
BEARER = "cdsHooksJwt"

router = APIRouter()


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI, from the service's own files. Routes reach the app through the request: FastAPI caches
    endpoint functions process-wide, so one closing over its app would keep every app ever made alive."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title}: API",
                               swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
                               swagger_css_url=f"{STATIC}/swagger-ui.css", swagger_favicon_url=f"{STATIC}/favicon.png")


class CdsHooksRequest(HookRequest):
    """A CDS Hooks 2.0 request; `context` by hook (service.md)."""

    context: PatientViewContext | OrderSelectContext | OrderContext | MedicationPrescribeContext  # type: ignore[assignment]


_BODIES: dict[str, type[BaseModel]] = {
    "/cds-services/{service_id}": CdsHooksRequest,
    "/cds-services/{service_id}/feedback": FeedbackRequest,
}


def install(app: FastAPI) -> None:
    """/openapi.json (made again when the rules in force change) and Swagger UI on /docs.
    The app is created with docs_url=None and redoc_url=None (their pages load from a CDN)."""
    documents: dict[str, dict[str, Any]] = {}

    def document() -> dict[str, Any]:
        digest = app.state.runtime.current.rulebook.digest
        if digest not in documents:
            documents.clear()
            documents[digest] = _document(app)
        return documents[digest]

    app.openapi = document  # type: ignore[method-assign]
    app.mount(STATIC, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")
    app.include_router(router)


def _document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    services = app.state.runtime.current.rulebook.services
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for path, model in _BODIES.items():
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        spec["paths"][path]["post"]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}}
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            for parameter in operation.get("parameters", ()):
                if parameter["name"] == "service_id":
                    parameter["schema"] = {"type": "string", "enum": sorted(services), "title": "Service Id"}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    spec["paths"]["/cds-services/{service_id}"]["post"]["requestBody"]["content"]["application/json"]["examples"] = {
        service.id: {"summary": service.title, "value": render_fixture(SERVICE_EXAMPLES / f"{service.id}.json")}
        for service in services.values()}
    _bearer(app, spec)
    return spec


def _bearer(app: FastAPI, spec: dict[str, Any]) -> None:
    """The bearer-JWT scheme, required when auth is on by the operations that check a token (those that
    document a 401)."""
    spec["components"]["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "CDS Hooks 2.0 JWT (ES384 or RS384) from an issuer in the issuers file; `aud` is "
                       "<public URL>/cds-services/<id> (or /analytics). Needed when the service runs with --auth jwt."}}
    if app.state.settings.auth != "jwt":
        return
    for operations in spec["paths"].values():
        for operation in operations.values():
            if "401" in operation["responses"]:
                operation["security"] = [{BEARER: []}]
