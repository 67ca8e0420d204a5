"""Parsed rule conditions → durable_rules ruleset definitions (its JSON rule language)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cds.engine.errors import RuleRefused
from cds.engine.numbers import readable
from cds.rulebook.conditions import (
    AbsentCondition,
    AnyOf,
    Comparison,
    Condition,
    FactCondition,
    Operand,
    Where,
    settled,
)
from cds.rulebook.expressions import BinaryOp, FieldRef, Literal, Param, constant, references
from cds.rulebook.model import Rule

_COMPARISONS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}

# durable_rules decides an absence test when the rule's last positive fact arrives, and never
# revisits it. The normalizer asserts exactly one `patient` fact, after all others; a rule with an
# absence test is made to wait for it, so absence is judged against the complete fact set.
ANCHOR_FACT = "patient"
ANCHOR_ALIAS = "_anchor"


@dataclass(frozen=True)
class CompiledRule:
    """One durable_rules rule: a rule's base conditions, or base plus one case. `rank`: which wins when
    several variants match the same facts (the first case is 0, the base last)."""

    name: str
    rule: Rule
    indicator: str
    rank: int
    aliases: tuple[str, ...]
    definition: dict[str, Any]


def rule_variants(rule: Rule, parameters: dict[str, Any]) -> list[tuple[int, str, tuple[Condition, ...]]]:
    """(rank, indicator, conditions) of every variant that can hold under these parameters: each case
    (the base plus its conditions) in order, then the base."""
    base = settled(rule.when, parameters)
    if base is None:
        return []
    variants = [(rank, case.indicator, settled(case.when, parameters)) for rank, case in enumerate(rule.cases)]
    return [(rank, indicator, refine(base, extra)) for rank, indicator, extra in variants if extra is not None] + [
        (len(rule.cases), rule.indicator, base)]


def compile_rule(rule: Rule, parameters: dict[str, Any]) -> list[CompiledRule]:
    """A durable_rules rule per variant of the rule (rule_variants); raises RuleRefused if the
    rule compares with a number the engine cannot read."""
    try:
        return [
            CompiledRule(f"{rule.id}#{rank}", rule, indicator, rank,
                         tuple(c.alias for c in conditions if isinstance(c, FactCondition)),
                         {"all": compile_conditions(conditions, parameters)})
            for rank, indicator, conditions in rule_variants(rule, parameters)
        ]
    except _UnreadableNumber as error:
        raise RuleRefused(rule, f"it compares with {error.value}, a number too small or too large for the engine")\
            from None


class _UnreadableNumber(ValueError):
    def __init__(self, value: float):
        super().__init__(value)
        self.value = value


def refine(base: Sequence[Condition], extra: Sequence[Condition]) -> tuple[Condition, ...]:
    """Base conditions plus a case's conditions; a fact condition naming an alias the base
    already binds adds its tests to that condition instead of matching a second fact (the
    merged condition is compiled, never shown: it keeps the base's written form)."""
    merged = list(base)
    bound = {c.alias: index for index, c in enumerate(merged) if isinstance(c, FactCondition)}
    for condition in extra:
        index = bound.get(condition.alias) if isinstance(condition, FactCondition) else None
        if index is None:
            merged.append(condition)
        else:
            merged[index] = replace(merged[index], where=merged[index].where + condition.where)
    return tuple(merged)


def compile_conditions(conditions: Sequence[Condition], parameters: dict[str, float]) -> list[dict[str, Any]]:
    """durable_rules `all` terms. Absence tests go last: durable_rules cannot start with one."""
    positive = [c for c in conditions if isinstance(c, FactCondition)]
    absent = [c for c in conditions if isinstance(c, AbsentCondition)]
    # A field another condition computes with must be known: the engine fails on an unknown
    # operand, and a comparison with an unknown value is not true (unknown is unknown).
    used = _referenced_fields(conditions)
    terms = [{c.alias: _all([_fact_test(c, parameters),
                             *({"$ex": {name: 1}} for name in sorted(used.get(c.alias, ())))])}
             for c in positive]
    if absent and not any(c.fact_type == ANCHOR_FACT for c in positive):
        terms.append({ANCHOR_ALIAS: {"type": ANCHOR_FACT}})
    terms += [{f"absent{index}$not": _fact_test(c, parameters)} for index, c in enumerate(absent)]
    return terms


def _referenced_fields(conditions: Sequence[Condition]) -> dict[str, set[str]]:
    """alias → the fields of it that =expressions elsewhere in the rule use."""
    used: dict[str, set[str]] = {}
    for operand in (operand for condition in conditions for operand in condition.operands()):
        for ref in references(operand):
            if isinstance(ref, FieldRef):
                used.setdefault(ref.alias, set()).add(ref.field)
    return used


def ordered_conditions(conditions: Sequence[Condition]) -> list[Condition]:
    """Conditions in the order they are compiled (facts first, then absences)."""
    return ([c for c in conditions if isinstance(c, FactCondition)]
            + [c for c in conditions if isinstance(c, AbsentCondition)])


def _fact_test(condition: Condition, parameters: dict[str, float]) -> dict[str, Any]:
    return _all([{"type": condition.fact_type}, *_where(condition.where, parameters)])


def _where(where: Where, parameters: dict[str, float]) -> list[dict[str, Any]]:
    terms = []
    for clause in where:
        if isinstance(clause, AnyOf):
            terms.append(_any([_all(_where(branch, parameters)) for branch in clause.branches]))
        else:
            terms.extend(_comparison(clause.field, comparison, parameters) for comparison in clause.comparisons)
    return terms


def _comparison(field: str, comparison: Comparison, parameters: dict[str, float]) -> dict[str, Any]:
    op, operands = comparison.op, comparison.operands
    if op == "known":
        return {"$ex" if _emit(operands[0], parameters) else "$nex": {field: 1}}
    if op == "in":
        return _any([{field: _emit(operand, parameters)} for operand in operands])
    value = _emit(operands[0], parameters)
    if op == "eq":
        return {field: value}
    if op == "ne":
        # "not known to be X": an unknown (absent) field counts as not X.
        return _any([{"$nex": {field: 1}}, {"$neq": {field: value}}])
    return {_COMPARISONS[op]: {field: value}}


def _emit(value: Operand, parameters: dict[str, float]) -> Any:
    if isinstance(value, Literal | Param):
        return _readable(value.value if isinstance(value, Literal) else parameters[value.name])
    if isinstance(value, FieldRef):
        return {value.alias: value.field}
    if isinstance(value, BinaryOp):
        folded = constant(value, parameters)  # the engine cannot evaluate an expression without a fact
        if folded is not None:
            return _readable(folded)
        return {value.op: {"$l": _emit(value.left, parameters), "$r": _emit(value.right, parameters)}}
    raise TypeError(f"unexpected value {value!r}")


def _readable(value: Any) -> Any:
    if not readable(value):
        raise _UnreadableNumber(value)
    return value


def _all(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _any(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$or": terms}
