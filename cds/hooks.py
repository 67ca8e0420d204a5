"""CDS Hooks 2.0 request models per hook; every 400 the service gives comes from here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class RequestProblem(ValueError):
    """A request that cannot be served: 400 with one entry per bad field."""

    def __init__(self, message: str, detail: list[dict[str, str]]):
        self.detail = detail
        super().__init__(message)


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")
    access_token: str
    token_type: str = "Bearer"
    scope: str | None = None
    subject: str | None = None


class HookContext(BaseModel):
    model_config = ConfigDict(extra="allow")
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None


class PatientViewContext(HookContext):
    pass


class BundleEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    resource: dict[str, Any] | None = None


class DraftBundle(BaseModel):
    """A Bundle of draft orders; real EHRs often omit `type`, so it is not required."""

    model_config = ConfigDict(extra="allow")
    resourceType: Literal["Bundle"]
    entry: list[BundleEntry] = []

    def resources(self) -> list[dict[str, Any]]:
        return [entry.resource for entry in self.entry if entry.resource is not None]


class OrderContext(HookContext):
    draftOrders: DraftBundle


class OrderSelectContext(OrderContext):
    selections: list[str] | None = None


class MedicationPrescribeContext(HookContext):
    """The deprecated hook: `medications` is a Bundle, or (in older drafts of the spec) a list."""

    medications: DraftBundle

    @field_validator("medications", mode="before")
    @classmethod
    def _list_as_bundle(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"resourceType": "Bundle", "entry": [{"resource": item} for item in value]}
        return value


CONTEXTS: dict[str, type[HookContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderContext,
    "medication-prescribe": MedicationPrescribeContext,
}


class HookRequest(BaseModel):
    """The envelope common to every hook. Unknown top-level fields are allowed (extensions)."""

    model_config = ConfigDict(extra="allow")
    hook: str
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


def parse_request(body: Any, expected_hook: str) -> tuple[HookRequest, HookContext]:
    """Validate a decoded JSON body for a service on `expected_hook`."""
    if not isinstance(body, dict):
        raise RequestProblem("request body must be a JSON object", [{"field": "(body)", "message": "not an object"}])
    try:
        request = HookRequest.model_validate(body)
    except ValidationError as error:
        raise RequestProblem("invalid CDS Hooks request", _details(error)) from None
    if request.hook != expected_hook:
        raise RequestProblem("wrong hook for this service", [
            {"field": "hook", "message": f"this service answers '{expected_hook}', not '{request.hook}'"}])
    try:
        context = CONTEXTS[expected_hook].model_validate(request.context)
    except ValidationError as error:
        raise RequestProblem(f"invalid context for {expected_hook}", _details(error, "context")) from None
    return request, context


def draft_resources(context: HookContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the raw resources under evaluation, the drafts not selected): draftOrders (or medications)
    split by order-select's selections. Unselected drafts are not evaluated, but still count as
    drafted ("no draft B12 order" means none in draftOrders, selected or not)."""
    container = getattr(context, "draftOrders", None) or getattr(context, "medications", None)
    resources = container.resources() if container is not None else []
    selections = getattr(context, "selections", None)
    if selections is None:
        return resources, []
    chosen = set(selections)

    def selected(resource: dict[str, Any]) -> bool:  # Medications stay: a selected order may reference them
        kind = resource.get("resourceType")
        return kind == "Medication" or f"{kind}/{resource.get('id')}" in chosen

    return [r for r in resources if selected(r)], [r for r in resources if not selected(r)]


def _details(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    details = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        details.append({"field": path or "(body)", "message": item["msg"]})
    return details
