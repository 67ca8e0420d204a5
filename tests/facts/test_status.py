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


def _written(loinc: str, days_ago: float = 10, **value: object) -> Observation:
    """A B12 result as a bound or a flag: valueString, or a valueQuantity with a comparator, or no value."""
    return Observation.model_validate({
        "resourceType": "Observation", "id": f"w-{loinc}-{days_ago}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": (NOW - timedelta(days=days_ago)).isoformat(), **value})


LOW_FLAG = {"interpretation": [{"coding": [
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "L"}]}]}


@pytest.mark.parametrize(("value", "status", "basis"), [
    ({"valueString": "<150"}, "low", "bound"),                          # at or below the low threshold
    ({"valueString": "< 150 pg/mL"}, "low", "bound"),                   # unit from the text
    ({"valueString": "<180"}, "low", "bound"),                          # a bound at the threshold is below it
    ({"valueString": "<300"}, "indeterminate", "bound"),                # below 300: never normal
    ({"valueString": ">2000"}, "normal", "bound"),                      # counts as its value
    ({"valueString": "<0.15 ng/mL"}, "low", "bound"),                   # 150 ng/L: converted, never guessed
    ({"valueString": "<0.2 ng/mL"}, "indeterminate", "bound"),          # 200 ng/L
    ({"valueQuantity": {"value": 150, "comparator": "<", "unit": "ng/L"}}, "low", "bound"),
    ({"valueQuantity": {"value": 400, "comparator": "<=", "unit": "ng/L"}}, "indeterminate", "bound"),
    ({"valueString": "450"}, "normal", "value"),                        # a plain number written as text
    (LOW_FLAG, "indeterminate", "qualitative"),                         # no value, flagged low
    ({"interpretation": [{"text": "Below reference range"}]}, "indeterminate", "qualitative"),
    ({"valueString": "see comment"}, "unknown", "none"),                # nothing to read
])
def test_bound_and_qualitative_b12_results(runtime, value, status, basis):
    patient = _patient(runtime, _written("2132-9", **value))
    assert (patient.b12_status, patient.b12_status_from) == (status, basis)


def test_an_unreadable_bound_and_a_flag_are_problems_and_a_flag_is_no_confirmation(runtime):
    record = PatientRecord(observations=[_written("2132-9", valueString="<<abc"), _written("72160-5", **LOW_FLAG)])
    facts = runtime.current.normalizer.normalize(record, "patient-view", NOW)
    assert sorted((p.kind, p.cause) for p in facts.problems) == [("b12_active", "no-value"),
                                                                 ("b12_total", "comparator")]
    assert facts.labs == [] and facts.patient.b12_status == "indeterminate"   # never unknown, never normal


def test_a_b12_below_the_lower_plausibility_bound_is_a_unit_error(runtime):
    """'0.42 ng/L' is an ng/mL value written as ng/L: implausible, not a deficiency."""
    record = PatientRecord(observations=[_obs("2132-9", 0.42)])
    facts = runtime.current.normalizer.normalize(record, "patient-view", NOW)
    assert [(p.kind, p.cause) for p in facts.problems] == [("b12_total", "implausible")]
    assert facts.patient.b12_status == "unknown"


def test_an_inborn_error_switches_the_mma_bound_off(runtime):
    cblc = Condition.model_validate({
        "resourceType": "Condition", "id": "cblc", "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E71.120"}],
                 "text": "methylmalonic acidaemia, cblC type"}})
    high_mma = _obs("13964-2", 80)
    without = runtime.current.normalizer.normalize(PatientRecord(observations=[high_mma]), "patient-view", NOW)
    assert [p.cause for p in without.problems] == ["implausible"]
    with_cblc = runtime.current.normalizer.normalize(PatientRecord(observations=[high_mma], conditions=[cblc]),
                                                     "patient-view", NOW)
    assert with_cblc.problems == [] and with_cblc.patient.inborn_cobalamin_disorder


@pytest.mark.parametrize(("born", "age", "adult"), [
    ("2010-11-25", 16.0, True), ("2010-11-26", 16.0, False),
    ("2026-05-25", 0.5, False), ("1970", None, None), (None, None, None)])
def test_age_from_the_birth_date(runtime, born, age, adult):
    """Adult from the 16th birthday on (not a day before); a year or month alone is no birth date."""
    from cds.fhir.models import Patient

    patient = Patient.model_validate({"resourceType": "Patient", "id": "p", **({"birthDate": born} if born else {})})
    fact = runtime.current.normalizer.normalize(PatientRecord(patient=patient), "patient-view", NOW).patient
    assert fact.adult == adult
    assert fact.age_years == (pytest.approx(age, abs=0.01) if age is not None else None)
