"""Benchmark request bodies: real fixtures padded to a size, with the cards each must produce.

A padded record keeps the fixture's own resources (repeated, distinct ids) and adds what a real
record also holds but no rule reads: glucose, lipid, liver and kidney results; other medications;
other conditions. So the cost of resources the service never looks at shows in every number.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from dataclasses import dataclass
from typing import Any

from cds import PROJECT_ROOT
from cds.fixtures import render_fixture

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
READ_SHARE = {"observations": 0.4, "medications": 0.2, "conditions": 0.2}  # at least; the rest: resources no rule reads
UNREAD_RESULTS = [  # (LOINC, display, value, UCUM unit)
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", 96, "mg/dL"),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", 182, "mg/dL"),
    ("2085-9", "HDL Cholesterol [Mass/volume] in Serum or Plasma", 52, "mg/dL"),
    ("13457-7", "LDL Cholesterol [Mass/volume] in Serum or Plasma (calculated)", 104, "mg/dL"),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", 131, "mg/dL"),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", 24, "U/L"),
    ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", 21, "U/L"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 0.9, "mg/dL"),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", 139, "mmol/L"),
]
UNREAD_MEDICATIONS = [("308191", "Amoxicillin 500 MG Oral Capsule"), ("860975", "Metformin 500 MG Oral Tablet"),
                      ("617312", "Atorvastatin 40 MG Oral Tablet"), ("314076", "Lisinopril 10 MG Oral Tablet")]
UNREAD_CONDITIONS = [("38341003", "Hypertension"), ("44054006", "Type 2 diabetes mellitus"),
                     ("55822004", "Hyperlipidaemia"), ("195967001", "Asthma")]


@dataclass(frozen=True)
class Size:
    """How many resources of each kind a padded record holds (None: the fixture's own)."""

    name: str
    observations: int
    medications: int
    conditions: int | None = None


@dataclass(frozen=True)
class Case:
    """A service, the fixture its bodies are built from, and the card topics every answer must carry."""

    service: str
    fixture: str
    expected: frozenset[str]


SMALL = Size("small", 20, 5)
LARGE = Size("large", 500, 100, 20)
CASES = [
    Case("b12-order-sign", "requests/esc-weekly-draft.json", frozenset({"escalation.increase-without-review"})),
    Case("b12-order-select", "requests/neuro-monthly-im-draft.json",
         frozenset({"deficiency.neuro-or-anaemia-needs-loading"})),
    Case("b12-label-check", "services/b12-label-check.json", frozenset({"units.mg-mcg-confusion"})),
    Case("b12-patient-view", "services/b12-patient-view.json", frozenset({"deficiency.low-untreated"})),
]
MAIN_CASE = CASES[0]


def padded_request(fixture: str, size: Size) -> dict[str, Any]:
    """The fixture's request with its record padded to `size` (distinct ids, a realistic mix)."""
    request = render_fixture(PROJECT_ROOT / "fhir_fixtures" / fixture)
    prefetch = request["prefetch"]
    template = _first_resource(prefetch, "Observation")
    fillers = {"observations": [_result(template, *result) for result in UNREAD_RESULTS],
               "medications": [_medication(prefetch, *drug) for drug in UNREAD_MEDICATIONS],
               "conditions": [_condition(prefetch, *condition) for condition in UNREAD_CONDITIONS]}
    for key, count in (("observations", size.observations), ("medications", size.medications),
                       ("conditions", size.conditions)):
        if count is None:
            continue
        bundle = prefetch.setdefault(key, {"resourceType": "Bundle", "type": "searchset", "entry": []})
        seeds = [entry["resource"] for entry in bundle.get("entry", [])]
        read = min(count, max(len(seeds), round(count * READ_SHARE[key])))  # the fixture's own, all of them
        chosen = [*itertools.islice(itertools.cycle(seeds), read),
                  *itertools.islice(itertools.cycle(fillers[key]), count - read)]
        bundle["entry"] = [{"resource": {**copy.deepcopy(resource), "id": f"{key}-{i}"}}
                           for i, resource in enumerate(chosen)]
    return request


@functools.cache
def body(case: Case, size: Size) -> bytes:
    """The case's request at `size` as sent on the wire (built once per process)."""
    return json.dumps(padded_request(case.fixture, size)).encode()


def _first_resource(prefetch: dict[str, Any], kind: str) -> dict[str, Any]:
    for value in prefetch.values():
        for entry in (value or {}).get("entry", []) if isinstance(value, dict) else []:
            if entry.get("resource", {}).get("resourceType") == kind:
                return entry["resource"]
    raise ValueError(f"the fixture's record has no {kind} to pad with")


def _subject(prefetch: dict[str, Any]) -> dict[str, str]:
    return {"reference": f"Patient/{prefetch['patient']['id']}"}


def _result(template: dict[str, Any], code: str, display: str, value: float, unit: str) -> dict[str, Any]:
    return {**template, "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _medication(prefetch: dict[str, Any], code: str, display: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": display, "coding": [{"system": RXNORM, "code": code}]},
            "subject": _subject(prefetch), "authoredOn": "2025-06-01T09:30:00Z",
            "dosageInstruction": [{"text": "1 tablet by mouth daily"}]}


def _condition(prefetch: dict[str, Any], code: str, display: str) -> dict[str, Any]:
    return {"resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
            "subject": _subject(prefetch)}
