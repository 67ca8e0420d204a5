"""`cds fixtures new` writes a valid FHIR request from a short description: every resource validates with
fhir.resources' R4B models, the service reads from it the facts described, and a rule example can run on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.cli import app
from cds.generation import load
from cds.ruletests import call_fixture
from tests.conftest import edit_file

runner = CliRunner()
DESCRIPTION = ["--patient", "female 67", "--draft", "cyanocobalamin_tablet_1mg 1 mg oral every 1 d",
               "--draft", "hydroxocobalamin_injection 1000 mcg im every 2 d x6", "--lab", "b12_total=95@10d",
               "--lab", "hb=98", "--finding", "neuro_findings", "--finding", "cobalt_allergy"]


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / "neuro-oral.json"
    result = runner.invoke(app, ["fixtures", "new", str(path), *DESCRIPTION])
    assert result.exit_code == 0, result.output
    return path


def _resources(request: dict) -> list[dict]:
    bundles = [*request["prefetch"].values(), request["context"]["draftOrders"]]
    return [entry["resource"] for bundle in bundles if bundle["resourceType"] == "Bundle"
            for entry in bundle["entry"]] + [request["prefetch"]["patient"]]


def test_every_resource_written_is_valid_fhir_r4b(written):
    request = json.loads(written.read_text())
    resources = _resources(request)
    assert {r["resourceType"] for r in resources} == {"Patient", "Observation", "Condition", "AllergyIntolerance",
                                                       "MedicationRequest"}
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert request["hook"] == "order-sign" and request["context"]["patientId"] == "pat-neuro-oral"


def test_the_service_reads_the_facts_described(written):
    facts = call_fixture(load(BUNDLED_RULES), written).facts
    assert (facts.patient.age_years // 1, facts.patient.adult, facts.patient.neuro_findings) == (67, True, True)
    assert facts.patient.cobalt_allergy and facts.patient.b12_status == "low"
    assert {lab.kind: lab.value for lab in facts.labs} == {"b12_total": 95, "hb": 98}
    oral, injection = sorted(facts.drafts, key=lambda draft: draft.route)[::-1]
    assert (oral.route, oral.dose_mcg, oral.interval_days, oral.product) == ("oral", 1000, 1,
                                                                              "Vitamin B 12 1 MG Oral Tablet")
    assert (injection.route, injection.dose_mcg, injection.interval_days, injection.doses, injection.regimen) == (
        "im", 1000, 2, 6, "loading")


def test_a_rule_example_runs_on_a_written_fixture(rules_copy):
    """A written file as an example of a rule, beside the rules directory as a project lays them out."""
    (rules_copy.parent / "fhir_fixtures").mkdir()
    written = runner.invoke(app, ["fixtures", "new", str(rules_copy.parent / "fhir_fixtures" / "neuro-oral.json"),
                                  "--patient", "male 70", "--draft", "cyanocobalamin_tablet_1mg 1 mg oral every 1 d",
                                  "--lab", "b12_total=95@10d", "--finding", "neuro_findings"])
    assert written.exit_code == 0, written.output
    edit_file(rules_copy / "packs" / "deficiency.yaml", "    tests:\n", "    tests:\n      - fixture: "
              "fhir_fixtures/neuro-oral.json\n        expect: fire\n        indicator: warning\n")
    result = runner.invoke(app, ["rules", "test", str(rules_copy), "-k", "neuro-oral.json"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("PASSED deficiency.neuro-or-anaemia-needs-loading [fhir_fixtures/neuro-oral.json "
                                    "expect fire] fired (warning)")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--draft", "cyano_injection 1 mg im", "no product 'cyano_injection' in regimens.yaml (did you mean "
                                           "'cyanocobalamin_injection'?)"),
    ("--draft", "cyanocobalamin_injection 1mg intramuscular", "cannot read the draft"),
    ("--lab", "hb=9.8 g/dL", "cannot read the lab 'hb=9.8 g/dL': write KIND=VALUE[@DAYSd] in the kind's canonical"),
    ("--finding", "neuro_finding", "no value set 'neuro_finding' in valuesets.yaml (did you mean 'neuro_findings'?)"),
    ("--patient", "woman of 67", "cannot read the patient 'woman of 67'"),
])
def test_a_description_that_cannot_be_written_is_said_in_words(tmp_path, option, value, message):
    result = runner.invoke(app, ["fixtures", "new", str(tmp_path / "x.json"), option, value])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.json").exists()
