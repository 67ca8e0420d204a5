"""Evaluate facts against a service's compiled rules, one isolated durable_rules session per request."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine
from durable.engine import Host, MessageNotHandledException

from cds.engine.compiler import ANCHOR_FACT, CompiledRule, compile_rule
from cds.engine.errors import EngineError
from cds.engine.numbers import clamped
from cds.rulebook.conditions import AbsentCondition, FactCondition
from cds.rulebook.model import Rule, Rulebook, Service

# The durable_rules C engine keeps global state and is not thread-safe: every call into it,
# from every RuleEngine generation (hot reload makes several), runs under this one lock.
# An evaluation holds it for about a millisecond.
ENGINE_LOCK = threading.RLock()
_ruleset_counter = itertools.count(1)


def next_ruleset_name(prefix: str) -> str:
    """C-engine ruleset names are never reused, so generations cannot collide."""
    return f"{prefix}_{next(_ruleset_counter)}".replace("-", "_").replace(".", "_")


def _ignore(closure: Any) -> None:
    return None


def with_anchor_rule(definitions: dict[str, Any]) -> dict[str, Any]:
    """Add a rule that observes the anchor fact, so every session has a handled fact.

    durable_rules 2.0.28 aborts the process (free(): invalid pointer) when deleting the state of
    a session in which no asserted fact was handled by any rule.
    """
    return {**definitions, "_anchor_seen": {"all": [{"m": {"type": ANCHOR_FACT}}], "run": _ignore}}


def register(host: Host, definitions: dict[str, Any]) -> None:
    """Compile rulesets into `host`; raises EngineError, leaving none of them behind, if the engine refuses one."""
    with ENGINE_LOCK:
        try:
            host.register_rulesets(definitions)
        except Exception as error:  # durable_rules raises bare Exceptions
            release(host)
            raise EngineError(str(error)) from None


def release(host: Host) -> None:
    """Free the C engine's memory of every ruleset of `host` (none may be in use: see RuleEngine.release)."""
    with ENGINE_LOCK:
        for ruleset in host._ruleset_list:
            durable_rules_engine.delete_ruleset(ruleset._handle)
        host._ruleset_list.clear()
        host._ruleset_directory.clear()


def run_session(host: Host, ruleset: str, facts: list[dict[str, Any]]) -> None:
    """Assert `facts` into a fresh session of `ruleset` and delete the session afterwards.

    One fact at a time: a batch stops at the first fact no rule looks at. The anchor fact is
    asserted last, so absence tests are decided against the complete fact set. The facts must
    have been made `engine_safe`.
    """
    session = uuid.uuid4().hex
    ordered = sorted(facts, key=lambda fact: fact["type"] == ANCHOR_FACT)
    with ENGINE_LOCK:
        try:
            for fact in ordered:
                with contextlib.suppress(MessageNotHandledException):  # no rule looks at this fact
                    host.assert_fact(ruleset, {**fact, "sid": session})
        finally:
            host.delete_state(ruleset, session)


def engine_safe(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Facts the C engine accepts: readable numbers, and unique ids (it refuses a repeated fact)."""
    seen: Counter[str] = Counter()
    safe = []
    for fact in facts:
        fact = {key: clamped(value) for key, value in fact.items()}
        seen[fact["id"]] += 1
        if seen[fact["id"]] > 1:
            fact["id"] = f"{fact['id']}#{seen[fact['id']]}"
        safe.append(fact)
    return safe


class SynchronousHost(Host):
    """A durable_rules host without its background dispatch threads.

    The stock Host polls every ruleset from timer threads, calling into the C engine outside
    any lock we hold. We never queue events or timers, so actions all run inside assert_facts.
    """

    def _run(self) -> None:
        return None


@dataclass(frozen=True)
class Finding:
    """A rule that fired, with the facts it matched (alias → fact); `rank`: the variant that matched
    (cases first, the rule's own conditions last): of several findings on one order, the lowest wins."""

    rule_id: str
    indicator: str
    facts: dict[str, dict[str, Any]]
    rank: int = 0

    def fact(self, fact_type: str) -> dict[str, Any] | None:
        """The matched fact of this type, if the rule matched one."""
        return next((fact for fact in self.facts.values() if fact.get("type") == fact_type), None)

    @property
    def subject(self) -> str:
        """What the finding is about: the draft (all its steps), else the order, else the lab result,
        else the patient ('draft_order:<id>', 'order:<id>', 'lab_unit_problem:<id>', 'patient')."""
        for fact_type in ("draft_order", "order", "lab_unit_problem"):
            if (fact := self.fact(fact_type)) is not None:
                return f"{fact_type}:{fact.get('order_id') or fact.get('id')}"
        return "patient"


@dataclass
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # packs the deadline stopped before they ran

    @property
    def complete(self) -> bool:
        return not self.skipped


@dataclass(frozen=True)
class _ServiceRuleset:
    """One service's rules for its hook, compiled into one durable_rules ruleset."""

    name: str
    fact_types: frozenset[str]             # the fact types some rule looks at (others are not asserted)
    order: dict[str, int]                  # rule id → its place in the service (packs, then file order)


class RuleEngine:
    """The façade over durable_rules: one ruleset per service, so a request is one engine session.

    It owns the engine's quirks: the anchor fact asserted last, numbers the C engine can read,
    unique fact ids, findings collected per session, and the engine lock taken within the deadline.
    """

    def __init__(self, rulebook: Rulebook):
        self.rulebook = rulebook
        self._host = SynchronousHost()
        self._rulesets: dict[str, _ServiceRuleset] = {}
        self._findings: list[Finding] = []
        definitions: dict[str, dict[str, Any]] = {}
        for service in rulebook.services.values():
            packs = [rulebook.packs[name] for name in service.packs]
            rules = [(rule, pack.parameters) for pack in packs for rule in pack.rules if service.hook in rule.hooks]
            compiled = [c for rule, parameters in rules for c in compile_rule(rule, parameters)]
            if not compiled:
                continue
            name = next_ruleset_name(f"{service.id}_{service.hook}")
            definitions[name] = with_anchor_rule({c.name: {**c.definition, "run": self._action(c)} for c in compiled})
            fact_types = {c.fact_type for rule, _ in rules for c in _fact_conditions(rule)} | {ANCHOR_FACT}
            self._rulesets[service.id] = _ServiceRuleset(name, frozenset(fact_types),
                                                         {rule.id: index for index, (rule, _) in enumerate(rules)})
        register(self._host, definitions)

    def release(self) -> None:
        """Free this engine's compiled rulesets; it must not evaluate again (a replaced rulebook's engine,
        once no request holds it: cds.runtime)."""
        release(self._host)

    def evaluate(self, facts: list[dict[str, Any]], service: Service, deadline: float | None = None) -> Evaluation:
        """Run the service's rules over `facts` in one session. If the engine cannot be had before
        `deadline`, nothing runs and every pack of the service is reported skipped.

        `facts` hold one anchor (patient) fact, in any place: it is asserted last (compiler.ANCHOR_FACT).
        """
        ruleset = self._rulesets.get(service.id)
        if ruleset is None:
            return Evaluation()
        if not _acquire_engine(deadline):
            return Evaluation(skipped=list(service.packs))
        try:
            self._findings = []
            run_session(self._host, ruleset.name, engine_safe([f for f in facts if f["type"] in ruleset.fact_types]))
            findings = sorted(self._findings, key=lambda finding: ruleset.order[finding.rule_id])
        finally:
            ENGINE_LOCK.release()
        return Evaluation(findings)

    def _action(self, compiled: CompiledRule) -> Callable[[Any], None]:
        # One parameter only: durable_rules treats two-parameter actions as asynchronous.
        def record(closure: Any) -> None:
            matched = {alias: dict(closure._m[alias]) for alias in compiled.aliases}
            self._findings.append(Finding(compiled.rule.id, compiled.indicator, matched, compiled.rank))

        return record


def _acquire_engine(deadline: float | None) -> bool:
    """The engine lock. An admitted evaluation runs in full when the engine is free, whatever the
    clock says (load is shed at admission); a busy engine is waited for no longer than the deadline allows."""
    if ENGINE_LOCK.acquire(blocking=False):
        return True
    if deadline is None:
        return ENGINE_LOCK.acquire()
    left = deadline - time.monotonic()
    return left > 0 and ENGINE_LOCK.acquire(timeout=left)


def _fact_conditions(rule: Rule) -> list[FactCondition | AbsentCondition]:
    """Every fact a rule's conditions (escalations included) name, present or absent."""
    conditions = [*rule.when, *(c for case in rule.cases for c in case.when)]
    return [c for c in conditions if isinstance(c, FactCondition | AbsentCondition)]
