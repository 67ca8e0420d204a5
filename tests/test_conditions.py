"""A rule's `when` is parsed once into typed conditions: shorthands, values, lines, display."""

from __future__ import annotations

from pathlib import Path

from cds.engine.compiler import refine
from cds.rulebook.conditions import (
    AbsentCondition,
    AnyOf,
    Comparison,
    FactCondition,
    FieldTest,
    Invalid,
    parse_conditions,
)
from cds.rulebook.expressions import BinaryOp, FieldRef, Literal, Param
from cds.rulebook.yamlsource import read_yaml

WHEN = """\
when:
  - fact: order
    as: active
  - fact: draft_order
    where:
      route: im
      regimen: [loading, other]
      dose_mcg: {gt: "=active.mcg_per_28d * $ratio", le: $max}
      any:
        - {bounded: {known: false}}
        - {per_day: {ge: 2}}
  - absent: lab
    where: {kind: "$Bad", days_ago: {le: "=("}}
"""


def _parse(tmp_path: Path, text: str = WHEN) -> tuple:
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    return parse_conditions(read_yaml(path), ("when",))


def test_conditions_are_typed_with_alias_and_lines(tmp_path):
    active, draft, absent = _parse(tmp_path)
    assert isinstance(active, FactCondition)
    assert (active.fact_type, active.alias, active.where, active.line) == ("order", "active", (), 2)
    assert isinstance(draft, FactCondition) and draft.alias == "draft_order" and draft.line == 4
    assert isinstance(absent, AbsentCondition) and absent.fact_type == "lab" and absent.line == 12


def test_shorthands_become_operators_and_values_are_parsed(tmp_path):
    _, draft, _ = _parse(tmp_path)
    route, regimen, dose, any_of = draft.where
    assert route == FieldTest("route", (Comparison("eq", (Literal("im"),)),), 6)
    assert regimen.comparisons == (Comparison("in", (Literal("loading"), Literal("other"))),)
    assert dose.comparisons == (
        Comparison("gt", (BinaryOp("$mul", FieldRef("active", "mcg_per_28d"), Param("ratio")),)),
        Comparison("le", (Param("max"),)),
    )
    assert any_of == AnyOf((
        (FieldTest("bounded", (Comparison("known", (Literal(False),)),), 10),),
        (FieldTest("per_day", (Comparison("ge", (Literal(2),)),), 11),),
    ))


def test_tests_and_fields_reach_into_any_branches(tmp_path):
    _, draft, _ = _parse(tmp_path)
    assert [test.field for test in draft.tests()] == ["route", "regimen", "dose_mcg", "bounded", "per_day"]
    assert draft.fields() == {"route", "regimen", "dose_mcg", "bounded", "per_day"}
    assert FieldRef("active", "mcg_per_28d") in [
        operand.left for operand in draft.operands() if isinstance(operand, BinaryOp)]


def test_unparsable_values_are_kept_for_the_checks_to_report(tmp_path):
    *_, absent = _parse(tmp_path)
    kind, days_ago = absent.tests()
    assert kind.comparisons[0].operands == (
        Invalid("'$Bad' is not a parameter name",
                "parameters are written $lower_case_name, facts.yaml values $status.name"),)
    [invalid] = days_ago.comparisons[0].operands
    assert isinstance(invalid, Invalid) and invalid.message.startswith("cannot parse expression '=('")


def test_shown_as_written_with_parameter_values(tmp_path):
    _, draft, _ = _parse(tmp_path)
    assert draft.shown({"max": 5000})["where"]["dose_mcg"] == {"gt": "=active.mcg_per_28d * $ratio",
                                                                 "le": "$max = 5000"}


def test_refining_adds_tests_to_the_condition_binding_the_alias(tmp_path):
    base = _parse(tmp_path)
    extra = _parse(tmp_path, "when:\n  - fact: order\n    as: active\n    where: {route: iv}\n  - absent: finding\n")
    active, draft, absent, new_absent = refine(base, extra)
    assert isinstance(active, FactCondition) and active.alias == "active"
    assert [test.field for test in active.tests()] == ["route"]
    assert (draft, absent) == base[1:] and new_absent == extra[1]
