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


class MissingData(Exception):
    """Prefetch keys the request did not carry and the service could not get (→ one 412 naming each)."""

    def __init__(self, failures: list[DataUnavailable]):
        self.failures = failures
        super().__init__(", ".join(failure.key for failure in failures))


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
    """Every prefetch key from prefetch or the FHIR server, parsed; raises MissingData (every key that
    could not be had, each tried) or BadPrefetch.

    Only resources `wanted` (the rulebook's choice, from the raw JSON) become models; a key holding
    more than `max_resources` of them is cut (`_capped`), and so are the drafts.
    """
    record = PatientRecord()
    source = _Source(prefetch or {}, context, client_factory)
    missing: list[DataUnavailable] = []
    for key, template in templates.items():
        try:
            raw = source.resources(key, template)
        except DataUnavailable as failure:
            missing.append(failure)
            continue
        raw = _capped(record, key, [resource for resource in raw if wanted(resource)], max_resources)
        _file(record, parse_resources(raw, f"prefetch.{key}", record.skipped))
    if missing:
        raise MissingData(missing)
    _file_drafts(record, drafts, unselected, max_resources)
    return record


class _Source:
    """One prefetch key's resources: from prefetch, else fetched (one FhirClient for the request)."""

    def __init__(self, prefetch: dict[str, Any], context: dict[str, Any],
                 client_factory: Callable[[], FhirClient | None]):
        self.prefetch = prefetch
        self.context = context
        self.client_factory = client_factory
        self.client: FhirClient | None = None

    def resources(self, key: str, template: str) -> list[Any]:
        """Raises DataUnavailable (this key could not be had) or BadPrefetch (the EHR sent nonsense)."""
        value = self.prefetch.get(key, _ABSENT)
        fetched = False
        if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
            value = _ABSENT  # the EHR tried and failed: fetch it ourselves
        if value is _ABSENT:
            self.client = self.client or self.client_factory()
            if self.client is None:
                raise DataUnavailable(key, "not in prefetch and the request has no fhirServer")
            value = self.client.fetch(key, render_query(template, self.context))
            fetched = True
        if value is None:
            return []
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise BadPrefetch(key, "must be a FHIR resource, a Bundle or null")
        try:
            return bundle_resources(value) if value["resourceType"] == "Bundle" else [value]
        except ValueError as error:
            if fetched:
                raise DataUnavailable(key, f"FHIR server sent a malformed Bundle: {error}") from None
            raise BadPrefetch(key, str(error)) from None


def _capped(record: PatientRecord, key: str, raw: list[Any], max_resources: int) -> list[Any]:
    """At most `max_resources` of a key's resources: ongoing orders first, then the newest (as the FHIR
    client caps its own searches), so an oversized key cannot use up the deadline before any rule runs."""
    if len(raw) <= max_resources:
        return raw
    log.warning("%s holds %d resources the rules read: reading %d", key, len(raw), max_resources)
    PREFETCH_CAPPED.labels(key).inc()
    record.capped.append(key)
    return sorted(raw, key=_keep_first, reverse=True)[:max_resources]


def _is_order(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("resourceType") == "MedicationRequest"


def _file_drafts(record: PatientRecord, drafts: Sequence[dict[str, Any]], unselected: Sequence[dict[str, Any]],
                 max_resources: int) -> None:
    """Draft MedicationRequests read leniently (never skipped), with the Medications they reference, and
    the lab tests (ServiceRequests) drafted beside them. Other resources of `draftOrders` are never
    read; what is read is capped like a prefetch key."""
    orders = [raw for raw in drafts if _is_order(raw)]
    others = [raw for raw in unselected if _is_order(raw)]
    referenced = {key for raw in (*orders, *others) if (key := _medication_key(raw))}
    medications = [raw for raw in (*drafts, *unselected) if _is_medication(raw)
                   and f"Medication/{raw.get('id')}" in referenced]
    tests = [raw for raw in drafts if isinstance(raw, dict) and raw.get("resourceType") == "ServiceRequest"]
    read = _capped(record, "draftOrders", [*orders, *others, *medications, *tests], max_resources)
    kept = {id(raw) for raw in read}
    for raw in filter(lambda raw: id(raw) in kept, orders):
        model, r4_json, notes = read_draft(raw)
        record.drafts.append(model)
        if model.id:
            record.draft_json[model.id] = r4_json
            record.draft_notes[model.id] = notes
        if notes:
            log.warning("draft MedicationRequest/%s read leniently: %s", model.id, "; ".join(notes))
    record.unselected_drafts = [read_draft(raw)[0] for raw in others if id(raw) in kept]
    _file(record, parse_resources([raw for raw in (*medications, *tests) if id(raw) in kept], "draftOrders",
                                  record.skipped))


def _is_medication(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("resourceType") == "Medication" and isinstance(raw.get("id"), str)


def _medication_key(order: dict[str, Any]) -> str | None:
    """'Medication/<id>' of a draft's medicationReference (relative or absolute), else None."""
    reference = order.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str) or target.startswith("#"):
        return None
    return "/".join(target.split("/")[-2:])


_ABSENT = object()
_DATES = ("effectiveDateTime", "effectiveInstant", "issued", "authoredOn", "recordedDate", "performedDateTime",
          "onsetDateTime")


_ONGOING = ("active", "on-hold")


def _keep_first(raw: Any) -> tuple[bool, bool, str]:
    """Sort key, highest kept first: orders (drafts), ongoing orders, then the clinical date as written
    (ISO 8601 sorts as text; '' when there is none)."""
    if not isinstance(raw, dict):
        return False, False, ""
    recorded = next((value for name in _DATES if isinstance(value := raw.get(name), str)), "")
    return _is_order(raw), raw.get("status") in _ONGOING, recorded


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
                      "AllergyIntolerance": record.allergies, "ServiceRequest": record.lab_orders}[kind]
            target.append(model)
