"""A rule's `when`, parsed once at load into typed conditions that checks, compiler and explain read.

    {fact: lab, as: b12, where: {kind: b12_total, value: {lt: $low}}}
    → FactCondition("lab", alias="b12", where=(FieldTest("kind", [eq Literal("b12_total")]),
                                               FieldTest("value", [lt Param("low")])))

Shorthands become operators: `field: x` is `eq`, `field: [x, y]` is `in`. Every value is parsed
by `expressions.parse_value`; one that cannot be is kept as `Invalid`, for the checks to report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cds.rulebook.expressions import ExpressionError, Literal, Value, parse_value
from cds.rulebook.yamlsource import Path_, YamlDocument


@dataclass(frozen=True)
class Invalid:
    """A value that could not be parsed: the load fails with `message` at its line."""

    message: str
    hint: str | None = None


Operand = Value | Invalid


@dataclass(frozen=True)
class Comparison:
    """One operator applied to a field: eq, ne, lt, le, gt, ge, in (several operands) or known."""

    op: str
    operands: tuple[Operand, ...]


@dataclass(frozen=True)
class FieldTest:
    """Every comparison written under one field of a `where`; `line` is where the field is written."""

    field: str
    comparisons: tuple[Comparison, ...]
    line: int


@dataclass(frozen=True)
class AnyOf:
    """`any:` holds when one of its branches (each a conjunction) holds."""

    branches: tuple[Where, ...]


Where = tuple[FieldTest | AnyOf, ...]


@dataclass(frozen=True)
class Condition:
    """One entry of `when`: a fact type and the tests a fact of it must pass."""

    fact_type: str
    where: Where
    line: int
    written: dict[str, Any] = field(compare=False, repr=False)  # as in the rule file, for display

    def tests(self) -> Iterator[FieldTest]:
        """Every field test, those inside `any` branches too."""
        return _tests(self.where)

    def fields(self) -> set[str]:
        """The fields of the fact type this condition tests."""
        return {test.field for test in self.tests()}

    def operands(self) -> Iterator[Operand]:
        """Every value the tests compare with."""
        return (operand for test in self.tests() for comparison in test.comparisons
                for operand in comparison.operands)

    def shown(self, parameters: dict[str, float]) -> dict[str, Any]:
        """The condition as written, with each $parameter followed by its value."""
        return _shown(self.written, parameters)

    def required(self, name: str) -> set[Any]:
        """The values a top-level `eq` or `in` test requires of field `name`, when written as literals
        (`kind: hb` → {"hb"}); empty when there is no such test (those inside `any` are alternatives)."""
        for test in self.where:
            if isinstance(test, FieldTest) and test.field == name and len(test.comparisons) == 1 \
                    and test.comparisons[0].op in ("eq", "in") \
                    and all(isinstance(operand, Literal) for operand in test.comparisons[0].operands):
                return {operand.value for operand in test.comparisons[0].operands}
        return set()


@dataclass(frozen=True)
class FactCondition(Condition):
    """A fact of `fact_type` must exist; it is bound to `alias` (the type unless `as:` names one)."""

    alias: str = field(kw_only=True)


@dataclass(frozen=True)
class AbsentCondition(Condition):
    """No fact of `fact_type` may pass the tests."""


@dataclass(frozen=True)
class SettingCondition:
    """A yes/no parameter of the pack (a profile may set it): decided when the rules are compiled."""

    parameter: str
    line: int

    @property
    def written(self) -> dict[str, Any]:
        return {"setting": self.parameter}

    def shown(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {"setting": f"{self.parameter} = {parameters.get(self.parameter)}"}


def settled(conditions: tuple[Condition | SettingCondition, ...],
            parameters: dict[str, Any]) -> tuple[Condition, ...] | None:
    """The fact conditions, with the settings decided: None when a setting is off (they can never hold)."""
    if any(isinstance(c, SettingCondition) and not parameters.get(c.parameter) for c in conditions):
        return None
    return tuple(c for c in conditions if isinstance(c, Condition))


def parse_conditions(document: YamlDocument, pointer: Path_) -> tuple[Condition | SettingCondition, ...]:
    """Typed conditions of the schema-valid `when` list at `pointer` in `document`."""
    return tuple(_condition(document, (*pointer, index)) for index in range(len(document.at(pointer))))


def _condition(document: YamlDocument, pointer: Path_) -> Condition | SettingCondition:
    raw = document.at(pointer)
    if "setting" in raw:
        return SettingCondition(raw["setting"], document.line_of(pointer))
    where = _where(document, raw.get("where") or {}, (*pointer, "where"))
    if "fact" in raw:
        return FactCondition(raw["fact"], where, document.line_of(pointer), raw, alias=raw.get("as", raw["fact"]))
    return AbsentCondition(raw["absent"], where, document.line_of(pointer), raw)


def _where(document: YamlDocument, raw: dict[str, Any], pointer: Path_) -> Where:
    return tuple(
        AnyOf(tuple(_where(document, branch, (*pointer, key, index)) for index, branch in enumerate(test)))
        if key == "any" else FieldTest(key, _comparisons(test), document.line_of((*pointer, key)))
        for key, test in raw.items()
    )


def _comparisons(test: Any) -> tuple[Comparison, ...]:
    if isinstance(test, dict):
        return tuple(Comparison(op, tuple(map(_operand, operand if isinstance(operand, list) else [operand])))
                     for op, operand in test.items())
    if isinstance(test, list):
        return (Comparison("in", tuple(map(_operand, test))),)
    return (Comparison("eq", (_operand(test),)),)


def _operand(raw: Any) -> Operand:
    try:
        return parse_value(raw)
    except ExpressionError as error:
        return Invalid(str(error), error.hint)


def _tests(where: Where) -> Iterator[FieldTest]:
    for clause in where:
        if isinstance(clause, AnyOf):
            for branch in clause.branches:
                yield from _tests(branch)
        else:
            yield clause


def _shown(value: Any, parameters: dict[str, float]) -> Any:
    if isinstance(value, dict):
        return {key: _shown(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [_shown(item, parameters) for item in value]
    if isinstance(value, str) and value.startswith("$") and value[1:] in parameters:
        return f"{value} = {parameters[value[1:]]}"
    return value
