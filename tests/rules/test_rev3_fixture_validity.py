"""The panel and rev 3 fixtures are real FHIR as EHRs send it: every resource validates with fhir.resources'
full R4B models (unless its header lists it as deliberately sloppy and the description says so), every
resource belongs to the request's patient, and every header says what the case is judged by."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.conftest import FIXTURES
from tests.fixture_cases import PANEL, SCENARIOS, header, raw

CASES = PANEL + SCENARIOS
SOURCES = re.compile(r"\b(BNF|NICE|NG\d+|AAFP|label|PI|SmPC|Kinderformularium|GeneReviews|ASMBS|ACR|MHRA|SPS|USP)\b")
RULE_ID = re.compile(r"^[a-z]+\.[a-z0-9-]+$")


def resources(path: Path) -> Iterator[dict]:
    """Every resource the request carries: the patient file's prefetch, its own prefetch and its drafts."""
    request = raw(path)
    patient_file = json.loads((FIXTURES / "patients" / f"{header(path)['patient']}.json").read_text())
    for value in [*patient_file.values(), *(request.get("prefetch") or {}).values(),
                  request["context"].get("draftOrders")]:
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            yield from (entry["resource"] for entry in value.get("entry", []))
        elif isinstance(value, dict):
            yield value


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_every_resource_is_valid_fhir_r4b(path):
    sloppy = set(header(path).get("sloppy", []))
    assert not sloppy or "deliberately sloppy" in header(path)["description"]
    checked = [r for r in resources(path) if r["id"] not in sloppy]
    for resource in checked:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert {r["id"] for r in resources(path)} - {r["id"] for r in checked} == sloppy


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_every_resource_belongs_to_the_requests_patient(path):
    patient_id = raw(path)["context"]["patientId"]
    for resource in resources(path):
        if resource["resourceType"] == "Patient":
            assert resource["id"] == patient_id
        else:
            owner = resource.get("subject") or resource.get("patient")
            assert owner == {"reference": f"Patient/{patient_id}"}, resource["id"]


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_every_header_names_its_profile_source_and_expectations(path):
    case = header(path)
    assert case["profile"] in ("uk", "us")
    assert SOURCES.search(case["description"]) or path in SCENARIOS, case["description"]
    assert all(RULE_ID.match(rule) for rule in case.get("expect", []))
    assert "indicator" not in case or (len(case["expect"]) == 1 and case["indicator"] in ("info", "warning",
                                                                                             "critical"))
    assert "µg" not in path.read_text(encoding="utf-8")
