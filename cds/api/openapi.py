"""The OpenAPI document as the service really behaves: the CDS Hooks request and feedback bodies
(bodies are validated by the service, not by FastAPI), and no 422, which it never answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from cds.hooks import HookRequest, MedicationPrescribeContext, OrderContext, OrderSelectContext, PatientViewContext
from cds.store.feedback import FeedbackRequest

_REF = "#/components/schemas/{model}"


class CdsHooksRequest(HookRequest):
    """A CDS Hooks 2.0 request; `context` by hook (service.md)."""

    context: PatientViewContext | OrderSelectContext | OrderContext | MedicationPrescribeContext  # type: ignore[assignment]


_BODIES: dict[str, type[BaseModel]] = {
    "/cds-services/{service_id}": CdsHooksRequest,
    "/cds-services/{service_id}/feedback": FeedbackRequest,
}


def install(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
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
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec
