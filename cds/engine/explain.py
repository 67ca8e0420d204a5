"""Why a rule fired or not: each condition prefix is run through the real engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.engine.compiler import compile_conditions, ordered_conditions, rule_variants
from cds.engine.evaluator import (
    SynchronousHost,
    engine_safe,
    next_ruleset_name,
    register,
    release,
    run_session,
    with_anchor_rule,
)
from cds.facts.catalogue import field_spec
from cds.rulebook.conditions import Condition, SettingCondition, settled
from cds.rulebook.model import Rule


@dataclass
class ConditionReport:
    condition: dict[str, Any]
    status: str                              # held | failed | not reached
    candidates: list[dict[str, Any]] = field(default_factory=list)   # the facts it saw, with the fields it tests
    line: int = 0                            # where the condition is written


@dataclass
class CaseReport:
    indicator: str
    held: bool
    conditions: list[dict[str, Any]]


@dataclass
class RuleReport:
    rule: Rule
    fired: bool
    conditions: list[ConditionReport]
    cases: list[CaseReport] = field(default_factory=list)


def explain_rules(rules: list[tuple[Rule, dict[str, Any]]],
                  facts: list[dict[str, Any]]) -> list[RuleReport]:
    """For each (rule, pack parameters): fired or not, and which condition held or failed."""
    host = SynchronousHost()
    try:
        return [_explain(host, rule, parameters, engine_safe(facts)) for rule, parameters in rules]
    finally:
        release(host)   # an explain compiles rulesets of its own: freed, so repeated explains do not grow


def _explain(host: SynchronousHost, rule: Rule, parameters: dict[str, Any], facts: list[dict[str, Any]]) -> RuleReport:
    """One rule: each prefix of its conditions, and each case, run through the engine on the facts."""
    base = settled(rule.when, parameters)
    if base is None:   # a setting is off: the rule can never fire under these parameters
        return RuleReport(rule, False, [ConditionReport(c.shown(parameters), "failed", line=c.line)
                                        for c in rule.when if isinstance(c, SettingCondition)])
    conditions = ordered_conditions(base)
    fired: set[int] = set()
    definitions = {f"prefix{k}": {"all": compile_conditions(conditions[:k], parameters), "run": _recorder(fired, k)}
                   for k in range(1, len(conditions) + 1)}
    cased: set[int] = set()
    definitions |= {f"case{rank}": {"all": compile_conditions(when, parameters), "run": _recorder(cased, rank)}
                    for rank, _, when in rule_variants(rule, parameters) if rank < len(rule.cases)}
    name = next_ruleset_name("explain")
    register(host, {name: with_anchor_rule(definitions)})
    run_session(host, name, facts)
    held = max((k for k in range(1, len(conditions) + 1) if all(j in fired for j in range(1, k + 1))), default=0)
    return RuleReport(rule, held == len(conditions), [
        ConditionReport(condition.shown(parameters),
                        "held" if index < held else "failed" if index == held else "not reached",
                        _candidates(condition, facts) if index <= held else [], condition.line)
        for index, condition in enumerate(conditions)], [
        CaseReport(case.indicator, rank in cased, [c.shown(parameters) for c in case.when])
        for rank, case in enumerate(rule.cases)])


def _recorder(fired: set[int], k: int):  # noqa: ANN202 - a durable_rules action
    def record(closure: Any) -> None:
        fired.add(k)

    return record


def _candidates(condition: Condition, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The facts the condition is about, showing only the fields it tests: those of its type, and of the lab
    kinds or value sets it names (a condition on `kind: b12_total` is not about the Hb)."""
    fields = sorted(condition.fields())
    named = {name: values for name in fields if (spec := field_spec(condition.fact_type, name)) is not None
             and spec.values_from and (values := condition.required(name))}
    return [{"id": fact.get("id"), **{name: fact.get(name) for name in fields}}
            for fact in facts if fact.get("type") == condition.fact_type
            and all(fact.get(name) in values for name, values in named.items())]
