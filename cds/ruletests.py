"""The examples rule files carry (`tests:`), run as a service call would: a request fixture through the whole
pipeline, inline facts through the engine and the card builder. A silent rule's example is judged on the
cards it would give (logged, never returned), so a rule can be run silent with the examples it goes live
with. A failed example can be explained: the rule's conditions on the facts it ran on."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from cds.cards import CardBuilder
from cds.engine.explain import RuleReport, explain_rules
from cds.facts.examples import example_facts
from cds.fixtures import render_fixture
from cds.generation import LoadedRules
from cds.hooks import parse_request
from cds.pipeline import Outcome, run_offline
from cds.rulebook.examples import fixture_path
from cds.rulebook.model import LoadError, Rule, Rulebook, RuleTest, Service


@dataclass
class TestResult:
    """One example's outcome; `got` says what happened (the fired indicators, or why it could not run)."""

    rule: Rule
    test: RuleTest
    passed: bool
    got: str
    service: Service | None = None       # the service it ran on
    facts: list[dict[str, Any]] = field(default_factory=list)   # the engine facts it ran on
    seconds: float = 0.0

    @property
    def expected(self) -> str:
        return f"fire ({self.test.indicator})" if self.test.indicator else self.test.expect

    @property
    def message(self) -> str:
        return self.got if self.passed else f"expected {self.expected}, got {self.got}"

    @property
    def where(self) -> str:
        """The example's file:line."""
        return f"{self.rule.file}:{self.test.line}"

    def as_error(self) -> LoadError:
        """A failed example as a load error at the example's line in its rule file."""
        service = f" on {self.test.service}" if self.test.service else ""
        return LoadError(self.rule.file, self.test.line, f"example {self.test.label}{service} failed: {self.message}",
                         self.rule.id, "fix the rule or its example; `cds rules test` runs every example")


class _NotRun(Exception):
    """An example that could not run: a failed test, reported, not a crash."""


def call_fixture(rules: LoadedRules, fixture: Path, service_id: str | None = None) -> Outcome:
    """Render a fixture and run it offline through the named service (default: the one for its hook): an
    example passes or fails on its rules and data, never on the time a loaded machine took."""
    request = render_fixture(fixture)
    service = (rules.rulebook.services.get(service_id) if service_id
               else rules.rulebook.service_for_hook(request.get("hook", "")))
    if service is None:
        raise ValueError(f"no service {service_id or 'for hook ' + repr(request.get('hook'))}")
    hook_request, context = parse_request(request, service.hook)
    return run_offline(rules, service, hook_request, context)


def selected(rulebook: Rulebook, rules: Iterable[Rule] = (), pattern: str | None = None) -> list[tuple[Rule, RuleTest]]:
    """The examples that hold under the rulebook's profile (those naming another are left out), of `rules`
    (every rule when none), whose rule id or fixture contains `pattern` (ignoring case; * ? [] are wildcards)."""
    chosen = list({rule.id: rule for rule in rules}.values()) or rulebook.rules()
    return [(rule, test) for rule in chosen for test in rule.tests
            if test.profile in (None, rulebook.profile) and (pattern is None or _matches(pattern, rule, test))]


def run_rule_tests(rules: LoadedRules, examples: list[tuple[Rule, RuleTest]] | None = None) -> list[TestResult]:
    """Run `examples` (default: every example that holds under the rules' profile)."""
    chosen = selected(rules.rulebook) if examples is None else examples
    return [_run_one(rules, rule, test) for rule, test in chosen]


def summary(results: list[TestResult]) -> str:
    """One line: "34 rules, 121 examples: all passed" (or how many failed)."""
    failed = sum(not result.passed for result in results)
    rules = len({result.rule.id for result in results})
    return (f"{_count(rules, 'rule')}, {_count(len(results), 'example')}: "
            f"{f'{failed} failed' if failed else 'all passed'}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def trace(rules: LoadedRules, result: TestResult) -> RuleReport | None:
    """Why the example's rule fired or not on the facts the example ran on (None when it did not run)."""
    if not result.facts:
        return None
    pack = rules.rulebook.packs[result.rule.pack]
    [report] = explain_rules([(result.rule, pack.parameters)], result.facts)
    return report


def rule_service(rulebook: Rulebook, rule: Rule) -> Service | None:
    """The first service that runs `rule`: the one an inline example runs on unless it names another."""
    return next((s for s in rulebook.services.values() if rule.pack in s.packs and s.hook in rule.hooks), None)


def _matches(pattern: str, rule: Rule, test: RuleTest) -> bool:
    return any(fnmatchcase(name.lower(), f"*{pattern.lower()}*") for name in (rule.id, test.label))


def _run_one(rules: LoadedRules, rule: Rule, test: RuleTest) -> TestResult:
    started = time.perf_counter()
    result = _outcome(rules, rule, test)
    result.seconds = time.perf_counter() - started
    return result


def _outcome(rules: LoadedRules, rule: Rule, test: RuleTest) -> TestResult:
    try:
        service, cards, facts = _run_fixture(rules, rule, test) if test.fixture else _run_inline(rules, rule, test)
    except _NotRun as error:
        return TestResult(rule, test, False, str(error))
    except Exception as error:  # a broken fixture is a failed test, reported, not a crash
        return TestResult(rule, test, False, f"could not run: {type(error).__name__}: {error}")
    fired = [card for card in cards if card["source"]["topic"]["code"] == rule.id]
    if not fired:
        return TestResult(rule, test, test.expect == "quiet", "quiet", service, facts)
    got = f"fired ({', '.join(sorted({card['indicator'] for card in fired}))})"
    passed = test.expect == "fire" and (not test.indicator or any(c["indicator"] == test.indicator for c in fired))
    return TestResult(rule, test, passed, got, service, facts)


def _run_fixture(rules: LoadedRules, rule: Rule, test: RuleTest) -> tuple[Service, list[dict[str, Any]], list[Any]]:
    fixture = fixture_path(rules.rulebook.directory, test.fixture or "")
    if fixture is None:
        raise _NotRun(f"fixture not found: {test.fixture}")
    hook = render_fixture(fixture).get("hook", "")
    service = rules.rulebook.services.get(test.service) if test.service else rules.rulebook.service_for_hook(hook)
    if service is None:
        raise _NotRun(f"no service for hook {hook!r}")
    _check_runs(service, rule)
    outcome = call_fixture(rules, fixture, service.id)
    return service, [*outcome.response["cards"], *outcome.silent], outcome.facts.engine_facts()


def _run_inline(rules: LoadedRules, rule: Rule, test: RuleTest) -> tuple[Service, list[dict[str, Any]], list[Any]]:
    service = rules.rulebook.services[test.service] if test.service else rule_service(rules.rulebook, rule)
    if service is None:
        raise _NotRun("no service runs this rule on its hooks: it proves nothing")
    _check_runs(service, rule)
    facts = example_facts(test.facts or {}, service.hook)
    evaluation = rules.engine.evaluate(facts, service)
    builder = CardBuilder(rules.rulebook, service.id, f"example:{rule.id}:{test.line}", "example", {}, date.today())
    answer = builder.answer(evaluation.findings)
    return service, [*answer.shown, *answer.silent], facts


def _check_runs(service: Service, rule: Rule) -> None:
    if rule.pack not in service.packs or service.hook not in rule.hooks:
        raise _NotRun(f"service {service.id} does not run this rule: it proves nothing")
