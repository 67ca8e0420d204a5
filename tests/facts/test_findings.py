"""Value-set membership in rules: `finding` facts, one per value set the record matches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds.fhir.models import AllergyIntolerance, Condition, Observation
from cds.fhir.record import PatientRecord
from cds.rulebook import RulebookError, load_rulebook
from tests.conftest import client_for, edit_file, fixture_request, topics

PACK = """\
pack: label
version: "test"
title: Finding examples
rules:
  - id: label.finding-noted
    title: Finding noted
    indicator: info
    when:
      - fact: finding
        where: {{valueset: {valueset}}}
      - fact: draft_order
    card:
      summary: "Noted: {{finding.text}}"
      detail: "{{finding.valueset}}"
    rationale: Test rule for value-set membership.
    tests:
      - {{facts: {{finding: {{valueset: {valueset}, text: noted}}, draft_order: {{route: im}}}}, expect: fire}}
      - {{facts: {{draft_order: {{route: im}}}}, expect: quiet}}
"""
RHINITIS = """\
  allergic_rhinitis:
    description: Seasonal allergic rhinitis (a value set added in YAML only).
    codes: {snomed: ["367498001"]}
"""


def _serve(rules, settings, valueset: str):
    (rules / "packs" / "label.yaml").write_text(PACK.format(valueset=valueset))
    return client_for(rules, settings)


def _post(client, fixture: str):
    return client.post("/cds-services/b12-order-sign", json=fixture_request(f"requests/{fixture}.json"))


def test_rule_on_a_bundled_value_set(rules_copy, settings):
    client = _serve(rules_copy, settings, "neuro_findings")
    [card] = [c for c in _post(client, "neuro-oral-draft").json()["cards"]
              if c["source"]["topic"]["code"] == "label.finding-noted"]
    assert card["summary"] == "Noted: paraesthesia, peripheral neuropathy"
    assert "label.finding-noted" not in topics(_post(client, "dietary-im-draft"))


def test_value_set_added_in_yaml_only(rules_copy, settings):
    edit_file(rules_copy / "valuesets.yaml", "  cobalt_allergy:\n", RHINITIS + "  cobalt_allergy:\n")
    client = _serve(rules_copy, settings, "allergic_rhinitis")
    assert "label.finding-noted" in topics(_post(client, "dietary-im-draft"))
    assert "label.finding-noted" not in topics(_post(client, "neuro-oral-draft"))


def test_unknown_value_set_is_a_load_error(rules_copy):
    pack = PACK.format(valueset="leber_diseas")
    (rules_copy / "packs" / "label.yaml").write_text(pack)
    with pytest.raises(RulebookError) as raised:
        load_rulebook(rules_copy)
    [error] = raised.value.errors
    line = next(i for i, text in enumerate(pack.splitlines(), 1) if "leber_diseas" in text)
    assert (error.line, error.rule_id) == (line, "label.finding-noted")
    assert "'finding.valueset' is never 'leber_diseas'" in error.message and "leber_disease" in error.hint


def _findings(runtime, **resources) -> dict[str, str]:
    facts = runtime.current.normalizer.normalize(PatientRecord(**resources), "patient-view", datetime.now(UTC))
    return {finding.valueset: finding.text for finding in facts.findings}


def test_value_sets_match_only_their_sources(runtime):
    deficiency = Condition.model_validate({
        "resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
        "code": {"text": "Cobalamin deficiency"}})
    allergy = AllergyIntolerance.model_validate({
        "resourceType": "AllergyIntolerance", "id": "a", "patient": {"reference": "Patient/p"},
        "reaction": [{"substance": {"text": "Cobalt"}, "manifestation": [{"text": "rash"}]}]})
    assert _findings(runtime, conditions=[deficiency]) == {}
    assert _findings(runtime, allergies=[allergy]) == {"cobalt_allergy": "cobalt"}


def _condition(system: str, code: str) -> Condition:
    return Condition.model_validate({"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
                                     "code": {"coding": [{"system": system, "code": code}]}})


ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.mark.parametrize(("code", "valueset"), [
    ("K50.0", "malabsorption_cause"), ("K500", "malabsorption_cause"), ("K50", "malabsorption_cause"),
    ("k50.0", "malabsorption_cause"), ("K294", "malabsorption_cause"), ("D510", "malabsorption_cause"),
    ("d51.0", "malabsorption_cause"), ("Z9884", "malabsorption_cause"), ("N184", "chronic_kidney_disease"),
    ("N18", "chronic_kidney_disease"), ("T650", "cyanide_poisoning"), ("T65.0X1A", "cyanide_poisoning"),
    ("R202", "neuro_findings"),
    # rev 2 value sets
    ("D51.3", "dietary_cause"), ("Z33.1", "pregnancy"), ("Z33", "pregnancy"), ("O09.90", "pregnancy"),
    ("R41.3", "neuro_findings"), ("G63", "neuro_findings"), ("F06.70", "neuro_findings"), ("R27.8", "neuro_findings"),
    ("H47.22", "leber_disease"),
])
def test_icd10_codes_match_with_or_without_dots_and_in_any_case(runtime, code, valueset):
    assert valueset in _findings(runtime, conditions=[_condition(ICD10, code)])


@pytest.mark.parametrize("code", ["K29", "K29.7", "D51", "D51.8", "N17.9", "K5", "T65.1", "Z33.2", "R41.0"])
def test_icd10_neighbours_do_not_match(runtime, code):
    assert _findings(runtime, conditions=[_condition(ICD10, code)]) == {}


def _observation(code: dict, **value) -> Observation:
    return Observation.model_validate({"resourceType": "Observation", "id": "o", "status": "final",
                                       "effectiveDateTime": "2026-11-20", "code": code, **value})


PARAESTHESIA = {"coding": [{"system": "http://snomed.info/sct", "code": "91019004"}]}
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@pytest.mark.parametrize(("value", "present"), [
    ({}, True),
    ({"valueBoolean": True}, True),
    ({"valueBoolean": False}, False),
    ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "2667000", "display": "Absent"}]}}, False),
    ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "52101004", "display": "Present"}]}}, True),
    ({"valueString": "not present"}, False),
    ({"valueString": "mild, both feet"}, True),
])
def test_coded_finding_observations_respect_their_value(runtime, value, present):
    found = "neuro_findings" in _findings(runtime, observations=[_observation(PARAESTHESIA, **value)])
    assert found is present


IF_ANTIBODY = {"coding": [{"system": "http://loinc.org", "code": "31444-3"}]}


@pytest.mark.parametrize(("value", "positive"), [
    ({"valueString": "Positive"}, True),
    ({"valueString": "Detected"}, True),
    ({"valueString": "None detected"}, False),
    ({"valueString": "No antibodies detected"}, False),
    ({"valueString": "Non reactive"}, False),
    ({"valueString": "Not positive"}, False),
    ({"valueString": "Equivocal"}, False),
    ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "10828004"}]}}, True),
    ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260385009"}]},
      "interpretation": [{"coding": [{"system": INTERPRETATION, "code": "H"}]}]}, False),
    ({"interpretation": [{"coding": [{"system": INTERPRETATION, "code": "POS"}]}]}, True),
    ({"interpretation": [{"coding": [{"system": "urn:local", "code": "POS"}]}]}, False),
    ({"interpretation": [{"text": "Positive"}]}, True),
])
def test_intrinsic_factor_antibody_reading(runtime, value, positive):
    record = PatientRecord(observations=[_observation(IF_ANTIBODY, **value)])
    patient = runtime.current.normalizer.normalize(record, "patient-view", datetime.now(UTC)).patient
    assert patient.malabsorption_cause is positive


def test_condition_with_an_abatement_and_no_clinical_status_has_resolved(runtime):
    crohns = _condition(ICD10, "K50.0").model_dump(exclude_none=True) | {"abatementDateTime": "2020-01-01"}
    assert _findings(runtime, conditions=[Condition.model_validate(crohns)]) == {}


def _text_condition(text: str) -> Condition:
    return Condition.model_validate({"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
                                     "code": {"text": text}})


@pytest.mark.parametrize(("text", "valueset"), [
    ("Subacute combined degeneration of the cord", "neuro_findings"),
    ("Recreational nitrous oxide use", "nitrous_oxide"),
    ("Leber hereditary optic neuropathy", "leber_disease"),
])
def test_rev2_findings_recorded_as_text(runtime, text, valueset):
    assert valueset in _findings(runtime, conditions=[_text_condition(text)])


@pytest.mark.parametrize(("code", "valueset"), [
    ("58610003", "leber_disease"), ("1255165006", "dietary_cause"), ("765021002", "dietary_cause"),
    ("77386006", "pregnancy"), ("20262006", "neuro_findings"), ("386807006", "neuro_findings"),
])
def test_rev2_snomed_codes(runtime, code, valueset):
    assert valueset in _findings(runtime, conditions=[_condition(SNOMED, code)])


def test_folic_acid_is_matched_against_drafts_only(runtime):
    assert _findings(runtime, conditions=[_text_condition("Folate deficiency (folic acid low)")]) == {}
