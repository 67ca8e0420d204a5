"""Rule files are validated at load: errors name file, line and rule id, with a hint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cds import BUNDLED_RULES
from cds.facts.model import FACT_TYPES
from cds.generation import load
from cds.rulebook import RulebookError, load_rulebook
from tests.conftest import client_for, edit_file, fixture_request, topics


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
    edit_file(rules_copy / "packs" / "units.yaml", "(usual dose {$regimen.usual_dose_mcg} mcg)",
              "(usual dose {$regimen.usual_dose_mcg} µg)")
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


UNITS_TEST = "dose_mcg: {gt: $mg_mcg_confusion_above_mcg}"


@pytest.mark.parametrize(("test", "message"), [
    ("dose_mcg: {gt: $Mg_mcg_confusion_above_mcg}", "'$Mg_mcg_confusion_above_mcg' is not a parameter name"),
    ('dose_mcg: {gt: "5000"}', "'draft_order.dose_mcg' is number, not '5000'"),
    ("route_text: {gt: 5}", "'gt' does not apply to 'draft_order.route_text' (text)"),
    ('dose_mcg: {gt: "=$mg_mcg_confusion_above_mcg / 0"}', "division by zero"),
    ('dose_mcg: {gt: "=$mg_mcg_confusion_above_mcg / $zero"}', "division by zero"),
    ('dose_mcg: {gt: "=5000 / draft_order.per_day"}', "divide only by a number or a $parameter"),
    ("route: IM", "'draft_order.route' is never 'IM'"),
    ("ingredient: [cyano, cyanocobalamin]", "'draft_order.ingredient' is never 'cyanocobalamin'"),
    ("any: [{}]", "where/any/0: {} should be non-empty"),
    ("dose_mcg: {gte: 5000}", "'gte' does not apply to 'draft_order.dose_mcg' (number)"),
])
def test_where_tests_the_engine_would_misread_are_load_errors(rules_copy, test, message):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, "  mg_mcg_confusion_above_mcg: {value: 5000",
              "  zero: {value: 0}\n  mg_mcg_confusion_above_mcg: {value: 5000")
    _assert_load_error(rules_copy, "units.yaml", UNITS_TEST, test, message)


def test_editor_lock_files_are_not_packs(rules_copy):
    (rules_copy / "packs" / ".#units.yaml").symlink_to("/nonexistent/lock")
    (rules_copy / "packs" / ".units.yaml.swp.yaml").write_text("not: a pack")
    assert load_rulebook(rules_copy).packs.keys() == load_rulebook(BUNDLED_RULES).packs.keys()


def test_constant_expressions_are_evaluated(rules_copy, settings):
    edit_file(rules_copy / "packs" / "units.yaml", UNITS_TEST, 'dose_mcg: {gt: "=$mg_mcg_confusion_above_mcg * 1"}')
    client = client_for(rules_copy, settings)
    response = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json"))
    assert "units.mg-mcg-confusion" in topics(response)


JOINED_ARITHMETIC = '\n      - fact: patient\n        where: {b12_drafts: {gt: "=draft_order.route_text * 2"}}'


@pytest.mark.parametrize(("old", "new", "message"), [
    ("          dose_kind: mass\n", "          dose_kind: mass\n          dose_kind: volume\n",
     "key 'dose_kind' is written twice (first on line"),
    (UNITS_TEST, "dose_mcg: {gt: 1}" + JOINED_ARITHMETIC, "'draft_order.route_text' is not a number"),
    ("{draft_order.dose_mcg} mcg: likely", "{draft_order.dose_mcg:.1f} mcg: likely", "has a format option"),
    ("(usual dose {$regimen.usual_dose_mcg} mcg)",
     "(usual dose {$regimen.usual_dose_mcg} mcg) " + "and more words " * 8, "cards allow 140"),
    ("labelled single dose of {$label_single_dose_mcg} mcg", "labelled single dose of {$label_single_dose} mcg",
     "placeholder '{$label_single_dose}' names no parameter of this pack"),
    ("{lab_unit_problem.reason}.\n\n        This result is",
     "{lab_unit_problem.reason}.\n        **Excluded:** This result is",
     "a bold-labelled line runs into the paragraph above it"),
    ("    hooks: [order-select, order-sign, medication-prescribe]   # doses of drafts: not on patient-view\n",
     "    hooks: [patient-view]\n",
     "a rule on patient-view alone can never match a draft_order"),
])
def test_card_and_file_mistakes_are_load_errors(rules_copy, old, new, message):
    _assert_load_error(rules_copy, "units.yaml", old, new, message)


def _assert_load_error(rules: Path, pack: str, old: str, new: str, message: str) -> None:
    edit_file(rules / "packs" / pack, old, new)
    errors = _errors(rules)
    assert any(message in error.message for error in errors), [str(e) for e in errors]
    assert all(error.line > 1 for error in errors)


@pytest.mark.parametrize("suggestion", ["replace_draft: {dose: {value: 1, unit: mg}}", "regimen: maintenance",
                                        "add_regimen: maintenance", "delete_draft: true"])
def test_changing_a_draft_needs_a_draft_order(rules_copy, suggestion):
    pack = rules_copy / "packs" / "monitoring.yaml"
    # monitoring.renal-confounds-labs binds only the patient
    rationale = "    rationale: >\n      BSH guideline / NICE CKS: MMA and homocysteine rise"
    edit_file(pack, rationale, f"      suggestions:\n        - label: Change\n          {suggestion}\n{rationale}")
    [error] = _errors(rules_copy)
    assert (error.rule_id, error.message) == (
        "monitoring.renal-confounds-labs", "this suggestion changes the matched draft, and the rule matches none")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("regimen: neuro_loading", "regimen: neuro_loadin", "no regimen 'neuro_loadin' in regimens.yaml"),
    ("product: hydroxocobalamin_injection", "product: hydroxocobalamin", "no product 'hydroxocobalamin'"),
    ("dose: {value: $regimen.usual_dose_mcg, unit: mcg}", "dose: {value: $regimen.usual_dose, unit: mcg}",
     "'$regimen.usual_dose' names no number"),
    ("{$regimens.neuro_loading}. Do not", "{$regimens.neuro}. Do not", "placeholder '{$regimens.neuro}' names no"),
    ("      - setting: cobalt_allergy_critical", "      - setting: cobalt_allergy", "setting 'cobalt_allergy' is not"),
    ("yields_to: [deficiency.neuro-or-anaemia-needs-loading]", "yields_to: [deficiency.needs-loading]",
     "yields_to names no rule 'deficiency.needs-loading'"),
])
def test_what_a_rule_names_must_exist(rules_copy, old, new, message):
    pack = next(path for path in (rules_copy / "packs").glob("*.yaml") if old in path.read_text())
    edit_file(pack, old, new)
    errors = _errors(rules_copy)
    assert any(message in error.message for error in errors), [str(e) for e in errors]
    assert all(error.line > 1 for error in errors)


def test_service_id_declared_twice(rules_copy):
    edit_file(rules_copy / "services.yaml", "id: b12-label-check", "id: b12-order-sign")
    declared, *examples = _errors(rules_copy)   # and each example naming the renamed service
    assert "service id 'b12-order-sign' is declared twice" in declared.message
    assert examples and all("example names no service 'b12-label-check'" in e.message for e in examples)


def test_a_case_may_use_only_aliases_bound_before_the_condition_it_refines(rules_copy):
    pack = """\
pack: escalation
version: "t"
title: t
rules:
  - id: escalation.order-test
    title: t
    indicator: info
    when:
      - fact: draft_order
      - fact: order
        as: active
    cases:
      - indicator: warning
        when:
          - fact: draft_order
            where: {mcg_per_28d: {lt: "=active.mcg_per_28d"}}
    card: {summary: s, detail: d, override_reasons: [not-applicable]}
    rationale: t
"""
    (rules_copy / "packs" / "escalation.yaml").write_text(pack)
    [error] = _errors(rules_copy)
    assert (error.line, error.message) == (16, "'active' is not bound by an earlier condition")


def test_a_misspelt_key_is_reported_on_its_own_line_with_a_suggestion(rules_copy):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, "      override_reasons: [dose-intended", "      override_reason: [dose-intended")
    errors = _errors(rules_copy)
    line = next(i for i, text in enumerate(pack.read_text().splitlines(), 1) if "override_reason:" in text)
    misspelt = next(e for e in errors if e.line == line)
    assert misspelt.hint == "did you mean 'override_reasons'?"


def test_warnings_for_what_loads_but_never_runs(rules_copy):
    services, units = rules_copy / "services.yaml", rules_copy / "packs" / "units.yaml"
    services.write_text(re.sub(r", units\b|\bunits, ", "", services.read_text()))
    units.write_text(units.read_text().split("    tests:\n")[0])  # the pack's only rule, without its examples
    warnings = [str(w) for w in load_rulebook(rules_copy, allow_untested=True).warnings]
    assert any("pack 'units' is run by no service" in w for w in warnings), warnings
    assert any("[units.mg-mcg-confusion]: rule has no example that fires and no example that stays quiet" in w
               for w in warnings), warnings


def test_a_case_needs_override_reasons_when_it_makes_a_card_a_warning(rules_copy):
    old = '    card:\n      summary: "Kidney impairment raises'
    _assert_load_error(rules_copy, "monitoring.yaml", old,
                       "    cases:\n      - indicator: warning\n        when:\n          - fact: patient\n" + old,
                       "warning and critical rules must offer override_reasons")


@pytest.mark.parametrize(("old", "new", "value"), [
    ("mg_mcg_confusion_above_mcg: {value: 5000", "mg_mcg_confusion_above_mcg: {value: 0.00001", "1e-05"),
    ("dose_mcg: {gt: $mg_mcg_confusion_above_mcg}", 'dose_mcg: {gt: "=$mg_mcg_confusion_above_mcg * 1e13"}', "5e+16"),
])
def test_a_number_the_engine_cannot_read_is_refused_at_the_rule(rules_copy, old, new, value):
    edit_file(rules_copy / "packs" / "units.yaml", old, new)
    with pytest.raises(RulebookError) as raised:
        load(rules_copy)
    [error] = raised.value.errors
    assert (Path(error.file).name, error.line, error.rule_id) == ("units.yaml", 15, "units.mg-mcg-confusion")
    assert error.message == f"it compares with {value}, a number too small or too large for the engine"
