"""Rule files are validated at load: errors name file, line and rule id, with a hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds import BUNDLED_RULES
from cds.facts.model import FACT_TYPES
from cds.rulebook import RulebookError, load_rulebook
from tests.conftest import edit_file


def _errors(directory: Path) -> list:
    with pytest.raises(RulebookError) as raised:
        load_rulebook(directory)
    return raised.value.errors


def test_bundled_rules_load(runtime):
    rulebook = runtime.current.rulebook
    assert {"deficiency.neuro-or-anaemia-needs-loading", "deficiency.not-confirmed",
            "units.mg-mcg-confusion"} <= {rule.id for rule in rulebook.rules()}


def test_unknown_fact_field_names_file_line_rule_and_suggests(rules_copy):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, "dose_mcg: {gt:", "dose_mgc: {gt:")
    [error] = _errors(rules_copy)
    line = next(i for i, text in enumerate(pack.read_text().splitlines(), 1) if "dose_mgc" in text)
    assert (error.file, error.line, error.rule_id) == (str(pack), line, "units.mg-mcg-confusion")
    assert "no field 'dose_mgc'" in error.message and "dose_mcg" in error.hint
    assert str(error).startswith(f"{pack}:{line} [units.mg-mcg-confusion]")


def test_undefined_parameter(rules_copy):
    edit_file(rules_copy / "packs" / "units.yaml", "$mg_mcg_confusion_above_mcg", "$no_such_threshold")
    [error] = _errors(rules_copy)
    assert "parameter '$no_such_threshold' is not defined" in error.message


def test_schema_error_is_located(rules_copy):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, "indicator: critical", "indicator: severe")
    [error] = _errors(rules_copy)
    assert error.rule_id == "units.mg-mcg-confusion"
    assert "indicator" in error.message and error.line > 1


def test_unsafe_unit_abbreviation_in_card_text(rules_copy):
    edit_file(rules_copy / "packs" / "units.yaml", "(usual 1000 mcg = 1 mg)", "(usual 1000 µg = 1 mg)")
    [error] = _errors(rules_copy)
    assert "mcg" in error.message


def test_template_placeholder_must_be_bound(rules_copy):
    edit_file(rules_copy / "packs" / "units.yaml", "{draft_order.dose_text} =", "{active_order.dose_text} =")
    [error] = _errors(rules_copy)
    assert "'active_order' is not bound" in error.message


def test_malformed_yaml_reports_line(rules_copy):
    pack = rules_copy / "packs" / "units.yaml"
    pack.write_text(pack.read_text() + "\n  - id: [unclosed\n")
    [error] = _errors(rules_copy)
    assert "not valid YAML" in error.message and error.line > 40


def test_service_naming_missing_pack(rules_copy):
    (rules_copy / "packs" / "label.yaml").unlink()
    errors = _errors(rules_copy)
    assert all("unknown pack 'label'" in e.message for e in errors) and errors


def test_units_in_facts_file_must_be_ucum_and_convertible(rules_copy):
    facts = rules_copy / "facts.yaml"
    edit_file(facts, '"g/dl": g/dL', '"g/dl": grams_per_dl')
    edit_file(facts, "units: [g/dL, g/L, mmol/L]", "units: [g/dL, g/L, mmol/L, fL]")
    lines = facts.read_text().splitlines()
    errors = _errors(rules_copy)
    assert [(e.file, e.line) for e in errors] == [
        (str(facts), next(i for i, text in enumerate(lines, 1) if "grams_per_dl" in text)),
        (str(facts), next(i for i, text in enumerate(lines, 1) if "mmol/L, fL]" in text))]
    assert "'grams_per_dl', which is not UCUM" in errors[0].message
    assert "lab 'hb': 'fL' cannot be converted to 'g/L'" in errors[1].message


def test_schema_fact_types_are_the_fact_catalog():
    schema = json.loads((BUNDLED_RULES / "schema" / "rule-pack.schema.json").read_text())
    assert set(schema["$defs"]["factType"]["enum"]) == set(FACT_TYPES)
