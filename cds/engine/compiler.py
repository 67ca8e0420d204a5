"""Rule conditions (YAML) → durable_rules ruleset definitions (its JSON rule language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.rulebook.expressions import BinaryOp, FieldRef, Literal, Param, Value, constant, parse_value, references
from cds.rulebook.model import Rule

_COMPARISONS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}

# durable_rules decides an absence test when the rule's last positive fact arrives, and never
# revisits it. The normalizer asserts exactly one `patient` fact, after all others; a rule with an
# absence test is made to wait for it, so absence is judged against the complete fact set.
ANCHOR_FACT = "patient"
ANCHOR_ALIAS = "_anchor"


@dataclass(frozen=True)
class CompiledRule:
    """One durable_rules rule: a rule's base conditions, or base plus one escalation."""

    name: str
    rule: Rule
    indicator: str
    aliases: tuple[str, ...]
    definition: dict[str, Any]


def compile_rule(rule: Rule, parameters: dict[str, float]) -> list[CompiledRule]:
    """The base rule, then one more-severe variant per `escalate` entry."""
    variants = [(rule.indicator, rule.when)]
    variants += [(e.indicator, refine(rule.when, e.when)) for e in rule.escalate]
    return [
        CompiledRule(f"{rule.id}#{index}", rule, indicator, _aliases(conditions),
                     {"all": compile_conditions(conditions, parameters)})
        for index, (indicator, conditions) in enumerate(variants)
    ]


def refine(base: tuple[dict[str, Any], ...], extra: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """Base conditions plus escalation conditions; a fact condition naming an alias the base
    already binds adds its tests to that condition instead of matching a second fact."""
    merged = [dict(condition) for condition in base]
    bound = {_alias(c): index for index, c in enumerate(merged) if "fact" in c}
    for condition in extra:
        index = bound.get(_alias(condition)) if "fact" in condition else None
        if index is None:
            merged.append(condition)
        else:
            merged[index]["where"] = [*_wheres(merged[index]), *_wheres(condition)]
    return tuple(merged)


def _alias(condition: dict[str, Any]) -> str:
    return condition.get("as", condition["fact"])


def _wheres(condition: dict[str, Any]) -> list[dict[str, Any]]:
    where = condition.get("where") or {}
    return where if isinstance(where, list) else [where]


def compile_conditions(conditions: tuple[dict[str, Any], ...] | list[dict[str, Any]],
                       parameters: dict[str, float]) -> list[dict[str, Any]]:
    """durable_rules `all` terms. Absence tests go last: durable_rules cannot start with one."""
    positive = [c for c in conditions if "fact" in c]
    absent = [c for c in conditions if "absent" in c]
    if absent and not any(c["fact"] == ANCHOR_FACT for c in positive):
        positive.append({"fact": ANCHOR_FACT, "as": ANCHOR_ALIAS})
    # A field another condition computes with must be known: the engine fails on an unknown
    # operand, and a comparison with an unknown value is not true (unknown is unknown).
    used = _referenced_fields(conditions)
    terms = [{_alias(c): _all([_fact_test(c["fact"], c, parameters),
                               *({"$ex": {name: 1}} for name in sorted(used.get(_alias(c), ())))])}
             for c in positive]
    terms += [{f"absent{index}$not": _fact_test(c["absent"], c, parameters)}
              for index, c in enumerate(absent)]
    return terms


def _referenced_fields(conditions: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> dict[str, set[str]]:
    """alias → the fields of it that =expressions elsewhere in the rule use."""
    used: dict[str, set[str]] = {}
    for condition in conditions:
        for where in _wheres(condition):
            for raw in _raw_values(where):
                for ref in references(parse_value(raw)):
                    if isinstance(ref, FieldRef):
                        used.setdefault(ref.alias, set()).add(ref.field)
    return used


def _raw_values(where: dict[str, Any]) -> list[Any]:
    values = []
    for field, test in where.items():
        if field == "any":
            values += [value for branch in test for value in _raw_values(branch)]
        else:
            for operand in (test.values() if isinstance(test, dict) else [test]):
                values += operand if isinstance(operand, list) else [operand]
    return values


def ordered_conditions(conditions: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Conditions in the order they are compiled (facts first, then absences)."""
    return [c for c in conditions if "fact" in c] + [c for c in conditions if "absent" in c]


def _aliases(conditions: tuple[dict[str, Any], ...]) -> tuple[str, ...]:
    return tuple(_alias(c) for c in conditions if "fact" in c)


def _fact_test(fact_type: str, condition: dict[str, Any], parameters: dict[str, float]) -> dict:
    return _all([{"type": fact_type}, *(term for where in _wheres(condition) for term in _where(where, parameters))])


def _where(where: dict[str, Any], parameters: dict[str, float]) -> list[dict[str, Any]]:
    terms = []
    for field, test in where.items():
        if field == "any":
            terms.append(_any([_all(_where(branch, parameters)) for branch in test]))
        elif isinstance(test, dict):
            terms.extend(_operator(field, op, value, parameters) for op, value in test.items())
        elif isinstance(test, list):
            terms.append(_any([{field: _value(item, parameters)} for item in test]))
        else:
            terms.append({field: _value(test, parameters)})
    return terms


def _operator(field: str, op: str, raw: Any, parameters: dict[str, float]) -> dict[str, Any]:
    if op == "known":
        return {"$ex" if raw else "$nex": {field: 1}}
    if op == "in":
        return _any([{field: _value(item, parameters)} for item in raw])
    value = _value(raw, parameters)
    if op == "eq":
        return {field: value}
    if op == "ne":
        # "not known to be X": an unknown (absent) field counts as not X.
        return _any([{"$nex": {field: 1}}, {"$neq": {field: value}}])
    return {_COMPARISONS[op]: {field: value}}


def _value(raw: Any, parameters: dict[str, float]) -> Any:
    return _emit(parse_value(raw), parameters)


def _emit(value: Value, parameters: dict[str, float]) -> Any:
    if isinstance(value, Literal):
        return value.value
    if isinstance(value, Param):
        return parameters[value.name]
    if isinstance(value, FieldRef):
        return {value.alias: value.field}
    if isinstance(value, BinaryOp):
        folded = constant(value, parameters)  # the engine cannot evaluate an expression without a fact
        if folded is not None:
            return folded
        return {value.op: {"$l": _emit(value.left, parameters), "$r": _emit(value.right, parameters)}}
    raise TypeError(f"unexpected value {value!r}")


def _all(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _any(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$or": terms}
