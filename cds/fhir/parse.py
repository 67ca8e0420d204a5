"""R4 JSON → the typed models of cds.fhir.models. A resource that fails validation is skipped, logged, counted."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from cds.fhir.lenient import r4_shape
from cds.fhir.models import MODELS, Model
from cds.fhir.record import SkippedResource
from cds.metrics import SKIPPED_RESOURCES

log = logging.getLogger(__name__)


def bundle_resources(bundle: dict[str, Any]) -> list[Any]:
    """The raw resources of a Bundle's entries (a Bundle without `type` is accepted).

    Raises ValueError when the Bundle's shape is wrong, rather than silently reading nothing.
    """
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError("Bundle.entry must be a list of entry objects")
    return [entry["resource"] for entry in entries if entry.get("resource") is not None]


def parse_resources(raw_resources: list[Any], source: str, skipped: list[SkippedResource]) -> list[Model]:
    """Validated models of the resource types the facts read (others are ignored unparsed); invalid
    ones go to `skipped`."""
    models = []
    for raw in raw_resources:
        kind = raw.get("resourceType") if isinstance(raw, dict) else None
        if not isinstance(kind, str):
            _skip(skipped, source, "(no resourceType)", raw, "resourceType is missing or not a string")
            continue
        if kind not in MODELS:
            continue  # a resource type the rules never read
        try:
            models.append(MODELS[kind].model_validate(r4_shape(raw) if kind == "MedicationRequest" else raw))
        except (ValidationError, ValueError, TypeError) as error:
            _skip(skipped, source, kind, raw, _first_error(error))
    return models


def _skip(skipped: list[SkippedResource], source: str, kind: str, raw: Any, reason: str) -> None:
    resource_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    log.warning("skipped invalid %s/%s from %s: %s", kind, resource_id, source, reason)
    SKIPPED_RESOURCES.labels(source, kind).inc()
    skipped.append(SkippedResource(source, kind, resource_id, reason))


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        return f"{location}: {first.get('msg', 'invalid')}"
    return str(error).splitlines()[0][:200]
