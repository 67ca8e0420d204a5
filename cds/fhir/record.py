"""The parsed FHIR data of one request, as the normalizer receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cds.fhir.models import (
    AllergyIntolerance,
    Condition,
    Medication,
    MedicationRequest,
    Observation,
    Patient,
    Procedure,
    ServiceRequest,
)


@dataclass(frozen=True)
class SkippedResource:
    """A resource left out because it failed FHIR validation."""

    source: str
    resource_type: str
    resource_id: str | None
    reason: str


@dataclass
class PatientRecord:
    """The request's resources as typed models (cds.fhir.models), grouped by what the normalizer needs."""

    patient: Patient | None = None
    observations: list[Observation] = field(default_factory=list)
    medication_requests: list[MedicationRequest] = field(default_factory=list)
    medications: dict[str, Medication] = field(default_factory=dict)  # "Medication/<id>" → Medication
    conditions: list[Condition] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    allergies: list[AllergyIntolerance] = field(default_factory=list)
    drafts: list[MedicationRequest] = field(default_factory=list)        # B12 candidates under evaluation
    draft_json: dict[str, dict[str, Any]] = field(default_factory=dict)  # draft id → its R4 JSON
    draft_notes: dict[str, list[str]] = field(default_factory=dict)      # draft id → parts not read
    unselected_drafts: list[MedicationRequest] = field(default_factory=list)  # order-select: drafted, not selected
    lab_orders: list[ServiceRequest] = field(default_factory=list)     # lab tests drafted in the request
    skipped: list[SkippedResource] = field(default_factory=list)
    capped: list[str] = field(default_factory=list)     # keys holding more resources than were read


def as_datetime(value: Any) -> datetime | None:
    """A FHIR date/dateTime (model value or partial string like '2026-10') as aware UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    for pattern in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return datetime.strptime(text[: len(pattern) + 2], pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
