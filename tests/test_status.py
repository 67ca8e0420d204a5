"""Derived status at and around each threshold of clinical-rules.md §1 (the facts rules rely on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cds.fhir.models import Condition, Observation
from cds.fhir.record import PatientRecord

NOW = datetime(2026, 11, 25, tzinfo=UTC)
UNITS = {"2132-9": "ng/L", "72160-5": "pmol/L", "13964-2": "umol/L", "718-7": "g/L", "33914-3": "mL/min/{1.73_m2}"}


def _obs(loinc: str, value: float, days_ago: float = 10, status: str = "final") -> Observation:
    return Observation.model_validate({
        "resourceType": "Observation", "id": f"{loinc}-{value}-{days_ago}", "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": (NOW - timedelta(days=days_ago)).isoformat(),
        "valueQuantity": {"value": value, "code": UNITS[loinc], "system": "http://unitsofmeasure.org"}})


def _patient(runtime, *observations, conditions=()):
    record = PatientRecord(observations=list(observations), conditions=list(conditions))
    return runtime.current.normalizer.normalize(record, "patient-view", NOW).patient


@pytest.mark.parametrize(("total", "status"), [(179, "low"), (180, "indeterminate"), (350, "indeterminate"),
                                               (351, "normal")])
def test_total_b12_thresholds(runtime, total, status):
    assert _patient(runtime, _obs("2132-9", total)).b12_status == status


@pytest.mark.parametrize(("active", "status"), [(24, "low"), (25, "indeterminate"), (70, "indeterminate"),
                                                (71, "normal")])
def test_active_b12_thresholds(runtime, active, status):
    assert _patient(runtime, _obs("72160-5", active)).b12_status == status


def test_unknown_and_stale_b12_is_unknown_not_normal(runtime):
    assert _patient(runtime).b12_status == "unknown"
    assert _patient(runtime, _obs("2132-9", 100, days_ago=366)).b12_status == "unknown"
    assert _patient(runtime, _obs("2132-9", 100, status="entered-in-error")).b12_status == "unknown"


def test_mma_upgrades_indeterminate_unless_renal_impairment(runtime):
    upgraded = _patient(runtime, _obs("2132-9", 250), _obs("13964-2", 0.46))
    assert (upgraded.b12_status, upgraded.mma_upgraded) == ("low", True)
    assert _patient(runtime, _obs("2132-9", 250), _obs("13964-2", 0.45)).b12_status == "indeterminate"
    by_egfr = _patient(runtime, _obs("2132-9", 250), _obs("13964-2", 0.9), _obs("33914-3", 59))
    assert (by_egfr.b12_status, by_egfr.renal_impairment) == ("indeterminate", True)
    ckd = Condition.model_validate({
        "resourceType": "Condition", "id": "ckd", "subject": {"reference": "Patient/p"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "N18.4"}]}})
    assert _patient(runtime, _obs("2132-9", 250), _obs("13964-2", 0.9), conditions=[ckd]).b12_status == "indeterminate"


@pytest.mark.parametrize(("hb", "days_ago", "significant", "severe"), [
    (109, 10, True, False), (110, 10, False, False), (79, 10, True, True), (80, 10, True, False),
    (70, 91, None, None)])
def test_anaemia_thresholds_and_lookback(runtime, hb, days_ago, significant, severe):
    patient = _patient(runtime, _obs("718-7", hb, days_ago))
    assert (patient.significant_anaemia, patient.severe_anaemia) == (significant, severe)


def test_renal_impairment_threshold(runtime):
    assert _patient(runtime, _obs("33914-3", 60)).renal_impairment is False
    assert _patient(runtime, _obs("33914-3", 59)).renal_impairment is True
    assert _patient(runtime, _obs("33914-3", 30, days_ago=400)).renal_impairment is False
