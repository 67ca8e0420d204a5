"""The typed models (cds.fhir.models) read what fhir.resources' full R4B models read: the same facts from every
fixture and sample shape, drafts included; the same verdict on malformed read elements."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds.fhir import lenient, models, parse
from cds.fhir.gather import gather_record
from cds.fhir.lenient import read_draft
from cds.hooks import draft_resources, parse_request
from tests.conftest import FIXTURES, SAMPLES, fixture_request

FULL_OBSERVATION = get_fhir_model_class("Observation")
REQUESTS = sorted(str(path.relative_to(FIXTURES)) for folder in ("requests", "services")
                  for path in (FIXTURES / folder).glob("*.json"))
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


class FullMedicationRequest(get_fhir_model_class("MedicationRequest")):  # type: ignore[misc]
    """R4B's model, plus R5's reporter, which the typed model reads as well."""

    informationSource: list[models.Reference] | None = None


FULL_MODELS = {name: get_fhir_model_class(name) for name in models.MODELS} | {
    "MedicationRequest": FullMedicationRequest}


def full_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read every resource, drafts included, with fhir.resources' full models from here on."""
    for name, model in FULL_MODELS.items():
        monkeypatch.setitem(parse.MODELS, name, model)
    monkeypatch.setattr(lenient, "MedicationRequest", FullMedicationRequest)


def _facts(runtime, body: dict, hook: str):
    request, context = parse_request(copy.deepcopy(body), hook)
    drafts, unselected = draft_resources(context) if hook != "patient-view" else ([], [])
    record = gather_record(runtime.current.prefetch, request.prefetch, context.model_dump(), drafts,
                           lambda: None, 1000, unselected, wanted=runtime.current.selects)
    return runtime.current.normalizer.normalize(record, hook, NOW)


@pytest.mark.parametrize("fixture", REQUESTS)
def test_every_fixture_gives_the_same_facts_with_the_full_models(runtime, monkeypatch, fixture):
    body = fixture_request(fixture)
    if not isinstance(body.get("prefetch"), dict) or "hook" not in body:
        pytest.fail(f"{fixture} is not a request with prefetch")
    typed_facts = _facts(runtime, body, body["hook"])
    full_models(monkeypatch)
    assert _facts(runtime, body, body["hook"]) == typed_facts


@pytest.mark.parametrize("name", ["order-select-r4-context.json", "order-sign-r4-context.json"])
def test_the_published_sample_shapes_give_the_same_facts_with_the_full_models(runtime, monkeypatch, name):
    body = {"hook": name.split("-r4")[0], "hookInstance": "x", **json.loads((SAMPLES / "cds-hooks-docs" / name)
                                                                             .read_text())}
    body["prefetch"] = {"patient": None} | {key: {"resourceType": "Bundle", "type": "searchset", "entry": []}
                                            for key in ("observations", "medications", "conditions", "procedures",
                                                        "allergies")}
    for entry in body["context"]["draftOrders"]["entry"]:
        if entry["resource"]["resourceType"] == "MedicationRequest":
            entry["resource"]["medicationCodeableConcept"] = {"coding": [{"system": RX, "code": "309594"}]}
    typed_facts = _facts(runtime, body, body["hook"])
    assert typed_facts.drafts, "the sample's order is read as a B12 draft"
    full_models(monkeypatch)
    assert _facts(runtime, body, body["hook"]) == typed_facts


ORDER_REQUESTS = [name for name in REQUESTS if fixture_request(name)["hook"] != "patient-view"]


@pytest.mark.parametrize("fixture", ORDER_REQUESTS)
def test_a_draft_and_a_prefetch_order_with_the_same_json_give_the_same_order_facts(runtime, fixture):
    """One reading path: each draft, sent again as a prefetch order, is read into the same fact; only
    a draft that needed a part left out (its notes) would be skipped as prefetch."""
    body = fixture_request(fixture)
    _, context = parse_request(copy.deepcopy(body), body["hook"])
    reader = runtime.current.normalizer.orders
    orders = [raw for raw in draft_resources(context)[0] if raw.get("resourceType") == "MedicationRequest"]
    assert orders
    for raw in orders:
        draft, _, notes = read_draft(raw)
        skipped: list = []
        as_prefetch = parse.parse_resources([raw], "prefetch.medications", skipped)
        assert bool(skipped) == bool(notes), raw.get("id")
        if not notes:
            assert reader.read(as_prefetch[0], {}, NOW, True) == reader.read(draft, {}, NOW, True), raw.get("id")


@pytest.mark.parametrize(("key", "least"), [("observations", 100), ("medications", 50), ("conditions", 20),
                                           ("procedures", 2), ("allergies", 1)])
def test_fixtures_hold_what_the_parity_is_about(key, least):
    bundles = [(fixture_request(name).get("prefetch") or {}).get(key) for name in REQUESTS]
    assert sum(len(bundle.get("entry") or []) for bundle in bundles if isinstance(bundle, dict)) >= least


BASE = {"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "effectiveDateTime": "2026-10-01T09:30:00Z",
        "valueQuantity": {"value": 120, "unit": "g/L", "system": "http://unitsofmeasure.org", "code": "g/L"}}


@pytest.mark.parametrize(("path", "value"), [
    (("status",), ""),
    (("status",), 3),
    (("code",), "718-7"),
    (("code", "coding"), {"code": "718-7"}),
    (("code", "coding", 0, "code"), " 718-7"),
    (("effectiveDateTime",), "2026-13-01"),
    (("effectiveDateTime",), "2026-10-01T09:30:00"),
    (("valueQuantity", "value"), "many"),
    (("valueQuantity", "comparator"), "< "),
    (("valueQuantity", "unit"), ""),
    (("valueQuantity", "value"), {"amount": 1}),
    (("id",), "has space"),
])
def test_a_malformed_read_element_is_refused_by_both_models(path, value):
    resource = copy.deepcopy(BASE)
    node = resource
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    for model in (FULL_OBSERVATION, models.Observation):
        with pytest.raises(ValidationError):
            model.model_validate(resource)


def test_an_integer_date_is_refused_where_the_full_model_misreads_it():
    resource = {**BASE, "effectiveDateTime": 20261001}
    assert FULL_OBSERVATION.model_validate(resource).effectiveDateTime.year == 1970
    with pytest.raises(ValidationError):
        models.Observation.model_validate(resource)


def test_two_values_are_refused_by_both_models():
    resource = {**BASE, "valueString": "120 g/L"}
    for model in (FULL_OBSERVATION, models.Observation):
        with pytest.raises(ValidationError):
            model.model_validate(resource)


def test_dates_read_as_the_full_model_reads_them():
    for written in ("2026", "2026-10", "2026-10-01", "2026-10-01T09:30:00+02:00", "2026-10-01T09:30:00.25Z"):
        resource = {**BASE, "effectiveDateTime": written}
        assert (models.Observation.model_validate(resource).effectiveDateTime
                == FULL_OBSERVATION.model_validate(resource).effectiveDateTime)


def test_an_unread_malformed_element_costs_nothing_in_the_typed_model():
    resource = {**BASE, "subject": {"reference": 42}, "referenceRange": "normal"}
    with pytest.raises(ValidationError):
        FULL_OBSERVATION.model_validate(resource)
    assert models.Observation.model_validate(resource).valueQuantity.value == 120



CYANO = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1670022"}],
         "text": "cyanocobalamin 1 MG/ML Injectable Solution"}
ORDER = {"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p"}, "authoredOn": "2026-09-01T09:30:00Z",
         "medicationCodeableConcept": CYANO,
         "dosageInstruction": [{"text": "1 mg IM monthly", "route": {"coding": [
             {"system": "http://snomed.info/sct", "code": "78421000"}]},
             "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "mo", "count": 12}},
             "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg", "system": "http://unitsofmeasure.org",
                                               "code": "mg"}}]}],
         "dispenseRequest": {"quantity": {"value": 3, "unit": "mL", "system": "http://unitsofmeasure.org",
                                          "code": "mL"}}}
MEDICATION = {"resourceType": "Medication", "id": "med1", "code": CYANO}
ORDER_VARIANTS = {
    "coded": ORDER,
    "contained medication": {**{k: v for k, v in ORDER.items() if k != "medicationCodeableConcept"},
                             "contained": [MEDICATION], "medicationReference": {"reference": "#med1"}},
    "referenced medication": {**{k: v for k, v in ORDER.items() if k != "medicationCodeableConcept"},
                              "medicationReference": {"reference": "Medication/med1"}},
    "display only": {**{k: v for k, v in ORDER.items() if k != "medicationCodeableConcept"},
                     "medicationReference": {"display": "Hydroxocobalamin 1 mg/1 mL injection"}},
    "reported by patient": {**ORDER, "reportedReference": {"reference": "Patient/p"}, "note": [{"text": "own supply"}]},
    "dose range and bounds": {**ORDER, "dosageInstruction": [{"timing": {"repeat": {
        "frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "wk",
        "boundsPeriod": {"start": "2026-09-01", "end": "2026-12-01"}}}, "doseAndRate": [{"doseRange": {
            "low": {"value": 500, "unit": "mcg"}, "high": {"value": 1000, "unit": "mcg"}}}]}]},
    "times of day": {**ORDER, "dosageInstruction": [{"timing": {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}},
                                                     "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}]}]},
}


@pytest.mark.parametrize("variant", ORDER_VARIANTS)
def test_orders_read_the_same_with_the_full_model(runtime, variant):
    reader = runtime.current.normalizer.orders
    resource = ORDER_VARIANTS[variant]
    full_medications = {"Medication/med1": FULL_MODELS["Medication"].model_validate(MEDICATION)}
    full = reader.read(FullMedicationRequest.model_validate(resource), full_medications, NOW, False)
    typed_medications = {"Medication/med1": models.Medication.model_validate(MEDICATION)}
    typed = reader.read(models.MedicationRequest.model_validate(resource), typed_medications, NOW, False)
    assert full is not None and typed == full


@pytest.mark.parametrize("change", [
    {"medicationCodeableConcept": None},
    {"intent": None},
    {"medicationReference": {"reference": "Medication/med1"}},
    {"reportedBoolean": "maybe"},
    {"dosageInstruction": [{"timing": {"repeat": {"frequency": 0}}}]},
    {"dosageInstruction": [{"timing": {"repeat": {"frequency": 2**31}}}]},          # positiveInt is 32-bit
    {"dosageInstruction": [{"timing": {"repeat": {"count": 10**400}}}]},
    {"dosageInstruction": [{"sequence": -2**31 - 1}]},                             # so is integer
    {"dosageInstruction": [{"timing": {"repeat": {"timeOfDay": ["8 am"]}}}]},
    {"contained": [{**MEDICATION, "code": "cyanocobalamin"}]},
    {"note": [{"author": "x"}]},
])
def test_a_malformed_order_is_refused_by_both_models(change):
    resource = {key: value for key, value in {**ORDER, **change}.items() if value is not None}
    for model in (FullMedicationRequest, models.MedicationRequest):
        with pytest.raises(ValidationError):
            model.model_validate(resource)


def test_an_r5_reporter_is_read_from_a_prefetch_order(runtime):
    """R5 moved reported[x] to informationSource: a prefetch order sent that way is read, reporter included."""
    reader = runtime.current.normalizer.orders
    resource = {**ORDER, "informationSource": [{"reference": "Patient/p"}]}
    fact = reader.read(models.MedicationRequest.model_validate(resource), {}, NOW, False)
    assert fact is not None and fact.reported_by_patient
    assert not reader.read(models.MedicationRequest.model_validate(ORDER), {}, NOW, False).reported_by_patient


CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            "code": "active"}]},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84027009"}],
                      "text": "Pernicious anaemia"}}


@pytest.mark.parametrize("change", [
    {"clinicalStatus": "active"},
    {"code": {"coding": {"code": "84027009"}}},
    {"abatementDateTime": "2026-01-01", "abatementString": "resolved"},
    {"abatementDateTime": "last spring"},
])
def test_a_malformed_condition_is_refused_by_both_models(change):
    for model in (get_fhir_model_class("Condition"), models.Condition):
        with pytest.raises(ValidationError):
            model.model_validate({**CONDITION, **change})
