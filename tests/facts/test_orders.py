"""B12 order facts: product matching, route, dose in mcg, schedule, supply (clinical-rules.md §1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.fhir.models import MedicationRequest

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _order(runtime, medication: dict[str, Any], dose: dict[str, Any] | None = None, route: dict | None = None,
           repeat: dict | None = None, **extra):
    dosage: dict[str, Any] = {}
    if dose:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    if route:
        dosage["route"] = route
    if repeat:
        dosage["timing"] = {"repeat": repeat}
    raw = {"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
           "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": medication,
           "dosageInstruction": [dosage], **extra}
    reader = runtime.current.normalizer.orders
    return reader.read(MedicationRequest.model_validate(raw), {}, NOW, True)


RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
IM = {"coding": [{"system": "http://snomed.info/sct", "code": "78421000"}]}
MONTHLY = {"frequency": 1, "period": 1, "periodUnit": "mo"}


def _ucum(value, code):
    return {"value": value, "code": code, "system": "http://unitsofmeasure.org"}


@pytest.mark.parametrize("code", ["50633-310-01", "50633-0310-01", "5063331001", "50633031001"])
def test_cyanokit_ndc_forms(runtime, code):
    fact = _order(runtime, {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": code}]},
                  dose=_ucum(5, "g"), route={"text": "IV"})
    assert fact.cyanokit and fact.antidote and fact.ingredient == "hydroxo" and fact.dose_mcg == 5_000_000


def test_non_b12_order_is_not_a_fact(runtime):
    assert _order(runtime, {"coding": [{"system": RX, "code": "617993"}], "text": "Amoxicillin"}) is None


@pytest.mark.parametrize(("text", "ingredient"), [
    ("Methylcobalamin 1 mg", "methyl"), ("Vitamin B12 injection", "cyano"), ("CYANOKIT 5 g", "hydroxo")])
def test_text_matching(runtime, text, ingredient):
    assert _order(runtime, {"text": text}).ingredient == ingredient


def test_mass_dose_interval_and_monthly_rate(runtime):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, dose=_ucum(1, "mg"), route=IM,
                  repeat=MONTHLY)
    assert (fact.ingredient, fact.route, fact.parenteral, fact.dose_kind) == ("cyano", "im", True, "mass")
    assert fact.dose_mcg == 1000 and fact.interval_days == 30.44
    assert fact.mcg_per_28d == pytest.approx(1000 * 28 / 30.44, rel=1e-3)
    assert not fact.bounded and fact.frequency_text == "monthly"


def test_volume_dose_uses_product_concentration(runtime):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, dose=_ucum(10, "mL"), route=IM)
    assert (fact.dose_kind, fact.dose_mcg, fact.multi_dose_vial) == ("volume", 10_000, True)


def test_vial_of_multi_size_product_is_uncheckable(runtime):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, dose={"value": 1, "unit": "vial"})
    assert fact.dose_kind == "container" and fact.dose_mcg is None and fact.dose_unit_problem


@pytest.mark.parametrize("dose", [{"value": 1000, "unit": "units"}, {"value": 1000, "unit": "IU"},
                                  {"value": 1, "unit": "[U]"}, {"value": 1, "unit": "{dose}"}])
def test_unconvertible_dose_units_are_problems(runtime, dose):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, dose=dose, route=IM)
    assert fact.dose_mcg is None and fact.dose_unit_problem and not fact.unreadable
    assert fact.unread_text


def test_no_dose_is_unreadable_not_a_unit_problem(runtime):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, dose=None, route=IM)
    assert fact.unreadable and not fact.dose_unit_problem and fact.unread_text == "no dose quantity"


@pytest.mark.parametrize(("route", "expected"), [
    ({"text": "intramuscular"}, "im"), ({"text": "deep SC"}, "sc"), ({"text": "by mouth"}, "oral"),
    ({"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}, "iv"), (None, "unknown"),
    ({"text": "Inject intramuscularly"}, "im"), ({"text": "subcutaneously"}, "sc"), ({"text": "intravenously"}, "iv"),
    ({"text": "take orally"}, "oral"), ({"text": "1 tab p.o."}, "oral"), ({"text": "IMMEDIATELY"}, "unknown")])
def test_routes(runtime, route, expected):
    assert _order(runtime, {"text": "hydroxocobalamin"}, dose=_ucum(1, "mg"), route=route).route == expected


def test_schedule_bounds_reason_report_and_supply(runtime):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "317106"}]}, dose=_ucum(1, "mg"), route=IM,
                  repeat={"frequency": 1, "period": 2, "periodUnit": "d", "count": 6},
                  reportedBoolean=True, note=[{"text": "reviewed"}],
                  dispenseRequest={"quantity": _ucum(6, "mL")}, authoredOn="2026-11-15")
    assert (fact.interval_days, fact.per_day, fact.bounded) == (2, 0.5, True)
    assert fact.reported_by_patient and fact.has_reason
    assert fact.dispense_mcg == 6000 and fact.supply_days == 12 and fact.authored_days_ago == 10
    assert fact.frequency_text == "on alternate days"


def test_twice_daily(runtime):
    fact = _order(runtime, {"text": "cyanocobalamin"}, dose=_ucum(1000, "ug"), route=IM,
                  repeat={"frequency": 2, "period": 1, "periodUnit": "d"})
    assert fact.per_day == 2 and fact.interval_days == 0.5


@pytest.mark.parametrize(("unit", "mcg"), [
    ("MG", 1_000_000), ("mg", 1_000_000), ("milligrams", 1_000_000), ("Milligram", 1_000_000),
    ("microgram", 1000), ("UG", 1000), ("mcg", 1000), ("G", 1_000_000_000)])
def test_written_dose_units_are_read_ignoring_case(runtime, unit, mcg):
    order = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, {"value": 1000, "unit": unit}, IM, MONTHLY)
    assert order.dose_mcg == mcg


def test_ucum_code_is_taken_as_ucum(runtime):
    """With the UCUM system, "Mg" is megagrams: an absurd dose, flagged as such, not silently 1 mg."""
    order = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, _ucum(1, "Mg"), IM, MONTHLY)
    assert order.dose_mcg == 1e12


@pytest.mark.parametrize("medication", [
    {"reference": "#m", "display": "Cyanocobalamin 1 mg/mL injection"},
    {"reference": "#m"},
])
def test_product_named_by_reference_display_or_medication_ingredient(runtime, medication):
    local_code = {"coding": [{"system": "urn:oid:1.2.3", "code": "L1"}]}
    contained = {"resourceType": "Medication", "id": "m", "code": local_code}
    if "display" not in medication:
        contained["ingredient"] = [{"itemCodeableConcept": {"text": "Cyanocobalamin"}}]
    raw = {"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
           "subject": {"reference": "Patient/p"}, "contained": [contained], "medicationReference": medication,
           "dosageInstruction": [{"doseAndRate": [{"doseQuantity": _ucum(1000, "mg")}], "route": IM}]}
    order = runtime.current.normalizer.orders.read(MedicationRequest.model_validate(raw), {}, NOW, True)
    assert (order.ingredient, order.dose_mcg) == ("cyano", 1_000_000)


ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]}


@pytest.mark.parametrize(("dose", "repeat", "per_day", "mcg_per_day"), [
    (_ucum(7, "mg"), {"frequency": 1, "period": 1, "periodUnit": "wk"}, 0.142857, 1000),
    (_ucum(1, "mg"), {"frequency": 1, "frequencyMax": 3, "period": 1, "periodUnit": "d"}, 3, 3000),
    (_ucum(1, "mg"), {"timeOfDay": ["08:00:00", "20:00:00"]}, 2, 2000),
    (_ucum(1, "mg"), {"dayOfWeek": ["mon", "thu"]}, 0.285714, 285.714),
])
def test_schedule_reads_the_most_frequent_it_allows_without_rounding_drift(runtime, dose, repeat, per_day,
                                                                              mcg_per_day):
    order = _order(runtime, {"text": "cyanocobalamin tablet"}, dose, ORAL, repeat)
    assert (order.per_day, order.mcg_per_day) == (per_day, mcg_per_day)


def test_first_dosage_instruction_with_a_dose_is_read(runtime):
    raw = {"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
           "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": {"coding": [{"system": RX,
                                                                                           "code": "317106"}]},
           "dosageInstruction": [{"sequence": 1, "text": "loading as discussed"},
                                 {"sequence": 2, "doseAndRate": [{"doseQuantity": _ucum(1, "mg")}], "route": IM,
                                  "timing": {"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}}}]}
    order = runtime.current.normalizer.orders.read(MedicationRequest.model_validate(raw), {}, NOW, True)
    assert (order.dose_mcg, order.interval_days, order.route) == (1000, 2, "im")


@pytest.mark.parametrize(("reported", "by_patient"), [
    ({"reportedBoolean": True}, True), ({"reportedReference": {"reference": "Patient/p"}}, True),
    ({"reportedReference": {"reference": "Patient/p/_history/2"}}, True),
    ({"reportedReference": {"reference": "https://ehr.example/fhir/RelatedPerson/r1"}}, True),
    ({"reportedReference": {"type": "Patient", "display": "the patient"}}, True),
    ({"reportedReference": {"reference": "Practitioner/d1"}}, False), ({}, False)])
def test_reported_by_patient(runtime, reported, by_patient):
    order = _order(runtime, {"coding": [{"system": RX, "code": "309594"}]}, _ucum(1, "mg"), IM, MONTHLY, **reported)
    assert order.reported_by_patient is by_patient


@pytest.mark.parametrize(("text", "ingredient"), [
    ("Neo-Cytamen 1000micrograms/1ml solution for injection ampoules", "hydroxo"),
    ("NeoCytamen injection", "hydroxo"), ("Cobalin-H 1mg/1ml injection", "hydroxo"),
    ("Cytamen 1000micrograms/1ml solution for injection ampoules", "cyano"),
    ("Hydroxocobalamin 1mg/1ml solution for injection ampoules", "hydroxo")])
def test_uk_brands_and_dmd_names_give_one_ampoule_as_1000_mcg(runtime, text, ingredient):
    fact = _order(runtime, {"text": text}, dose={"value": 1, "unit": "ampoule"}, route={"text": "IM"})
    assert (fact.ingredient, fact.dose_kind, fact.dose_mcg, fact.parenteral) == (ingredient, "container", 1000, True)


def test_sandbox_oral_tablet_counts_pills_times_strength(runtime):
    fact = _order(runtime, {"coding": [{"system": RX, "code": "309593"}], "text": "Vitamin B 12 1 MG Oral Tablet"},
                  dose=_ucum(2, "{pill}"), repeat={"frequency": 1, "period": 1, "periodUnit": "d"})
    assert (fact.route, fact.dose_kind, fact.dose_mcg, fact.parenteral) == ("oral", "count", 2000, False)
    assert fact.dose_arithmetic == "2 pill × 1,000 mcg = 2,000 mcg"


@pytest.mark.parametrize(("text", "dose", "mcg"), [
    ("cyanocobalamin 1,000 mcg/mL injection", {"value": 2, "unit": "mL"}, 2000),
    ("cyanocobalamin 1000 MCG/ML Injectable Solution, 30 mL multi-dose vial", {"value": 1, "unit": "vial"}, 30000),
    ("Vitamin B12 500 MCG Oral Tablet", {"value": 2, "unit": "tablets"}, 1000)])
def test_strengths_read_from_drug_names(runtime, text, dose, mcg):
    assert _order(runtime, {"text": text}, dose=dose).dose_mcg == mcg
