"""Folic-acid drafts (cds/facts/folate.py): code or text, contained or referenced, never a B12 order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.fhir.models import Medication, MedicationRequest
from cds.fhir.record import PatientRecord

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _draft(draft_id: str = "d", **medication: Any) -> MedicationRequest:
    return MedicationRequest.model_validate({"resourceType": "MedicationRequest", "id": draft_id, "status": "draft",
                                             "intent": "order", "subject": {"reference": "Patient/p"}, **medication})


def _patient(runtime, drafts: list, medications: dict | None = None):
    record = PatientRecord(drafts=drafts, medications=medications or {})
    return runtime.current.normalizer.normalize(record, "order-sign", datetime.now(UTC)).patient


@pytest.mark.parametrize("medication", [
    {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "310410"}]}},
    {"medicationCodeableConcept": {"text": "Folic Acid 5mg tablets"}},
    {"medicationReference": {"display": "Folate 400 microgram tablet"}},
    {"medicationReference": {"reference": "#m"},
     "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "folic acid oral solution"}}]},
])
def test_folic_acid_drafts_are_counted(runtime, medication):
    patient = _patient(runtime, [_draft(**medication)])
    assert (patient.folic_acid_drafts, patient.b12_drafts) == (1, 0)


def test_a_referenced_medication_is_read_from_the_record(runtime):
    medication = Medication.model_validate({"resourceType": "Medication", "id": "fa",
                                            "code": {"coding": [{"system": RXNORM, "code": "310410"}]}})
    patient = _patient(runtime, [_draft(medicationReference={"reference": "Medication/fa"})],
                       {"Medication/fa": medication})
    assert patient.folic_acid_drafts == 1


def test_a_b12_and_folic_acid_combination_is_a_b12_order_not_folic_acid_alone(runtime):
    patient = _patient(runtime, [_draft(medicationCodeableConcept={"text": "folic acid and cyanocobalamin tablet"})])
    assert (patient.folic_acid_drafts, patient.b12_drafts) == (0, 1)


def test_other_drafts_are_not_folic_acid(runtime):
    patient = _patient(runtime, [_draft(medicationCodeableConcept={"text": "ferrous sulfate 200 mg tablet"})])
    assert (patient.folic_acid_drafts, patient.folic_acid_text) == (0, None)
