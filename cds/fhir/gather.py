"""Assemble a PatientRecord from prefetch, the FHIR server and the draft orders."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from cds.fhir.client import DataUnavailable, FhirClient
from cds.fhir.lenient import read_draft
from cds.fhir.parse import bundle_resources, parse_resources
from cds.fhir.record import PatientRecord
from cds.metrics import PREFETCH_CAPPED

log = logging.getLogger(__name__)


class BadPrefetch(ValueError):
    """A prefetch value the EHR sent that is neither a resource, a Bundle nor null (→ 400)."""

    def __init__(self, key: str, reason: str):
        self.key = key
        super().__init__(reason)


def render_query(template: str, context: dict[str, Any]) -> str:
    """Fill `{{context.x}}` placeholders (URL-encoded) of a prefetch template."""
    query = template
    for name, value in context.items():
        if isinstance(value, str):
            query = query.replace("{{context." + name + "}}", quote(value, safe=""))
    return query


def gather_record(templates: dict[str, str], prefetch: dict[str, Any] | None,
                  context: dict[str, Any], drafts: list[dict[str, Any]],
                  client_factory: Callable[[], FhirClient | None], max_resources: int,
                  unselected: Sequence[dict[str, Any]] = (),
                  wanted: Callable[[Any], bool] = lambda raw: True) -> PatientRecord:
    """Every prefetch key from prefetch or the FHIR server, parsed; raises DataUnavailable/BadPrefetch.

    Only resources `wanted` (the facts layer's choice, from the raw JSON) become models. A search
    holding more than `max_resources` of them is cut to its newest (as the FHIR client caps its
    own searches), so an oversized prefetch cannot use up the deadline before any rule runs.
    """
    record = PatientRecord()
    client: FhirClient | None = None
    for key, template in templates.items():
        value = (prefetch or {}).get(key, _ABSENT)
        fetched = False
        if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
            value = _ABSENT  # the EHR tried and failed: fetch it ourselves
        if value is _ABSENT:
            client = client or client_factory()
            if client is None:
                raise DataUnavailable(key, "not in prefetch and the request has no fhirServer")
            value = client.fetch(key, render_query(template, context))
            fetched = True
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise BadPrefetch(key, "must be a FHIR resource, a Bundle or null")
        try:
            raw = bundle_resources(value) if value["resourceType"] == "Bundle" else [value]
        except ValueError as error:
            if fetched:
                raise DataUnavailable(key, f"FHIR server sent a malformed Bundle: {error}") from None
            raise BadPrefetch(key, str(error)) from None
        raw = [resource for resource in raw if wanted(resource)]
        if len(raw) > max_resources:
            log.warning("prefetch %s holds %d resources: reading the newest %d", key, len(raw), max_resources)
            PREFETCH_CAPPED.labels(key).inc()
            raw = sorted(raw, key=_recorded, reverse=True)[:max_resources]
        _file(record, parse_resources(raw, f"prefetch.{key}", record.skipped))
    _file_drafts(record, drafts)
    record.unselected_drafts = [read_draft(raw)[0] for raw in unselected if _is_order(raw)]
    return record


def _is_order(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("resourceType") == "MedicationRequest"


def _file_drafts(record: PatientRecord, drafts: list[dict[str, Any]]) -> None:
    """Draft MedicationRequests read leniently (never skipped); Medications beside them as usual."""
    for raw in filter(_is_order, drafts):
        model, r4_json, notes = read_draft(raw)
        record.drafts.append(model)
        if model.id:
            record.draft_json[model.id] = r4_json
            record.draft_notes[model.id] = notes
        if notes:
            log.warning("draft MedicationRequest/%s read leniently: %s", model.id, "; ".join(notes))
    others = [raw for raw in drafts if not _is_order(raw)]
    for model in parse_resources(others, "draftOrders", record.skipped):
        if model.get_resource_type() == "Medication" and model.id:
            record.medications[f"Medication/{model.id}"] = model


_ABSENT = object()
_DATES = ("effectiveDateTime", "effectiveInstant", "issued", "authoredOn", "recordedDate", "performedDateTime",
          "onsetDateTime")


def _recorded(raw: Any) -> str:
    """A resource's clinical date as written (ISO 8601 sorts as text), '' when it has none."""
    if not isinstance(raw, dict):
        return ""
    return next((value for name in _DATES if isinstance(value := raw.get(name), str)), "")


def _file(record: PatientRecord, models: list[Any]) -> None:
    for model in models:
        kind = model.get_resource_type()
        if kind == "Patient":
            record.patient = model
        elif kind == "Medication" and model.id:
            record.medications[f"Medication/{model.id}"] = model
        else:
            target = {"Observation": record.observations, "MedicationRequest": record.medication_requests,
                      "Condition": record.conditions, "Procedure": record.procedures,
                      "AllergyIntolerance": record.allergies}[kind]
            target.append(model)
