"""The examples rule files carry (`tests:`), run through the same pipeline as a service call."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds import PROJECT_ROOT
from cds.config import Settings
from cds.fixtures import render_fixture
from cds.generation import LoadedRules
from cds.hooks import parse_request
from cds.pipeline import Outcome, run_service
from cds.rulebook.model import LoadError, Rule, RuleTest


@dataclass
class TestResult:
    """One example's outcome; `got` says what happened (the fired indicators, or why it could not run)."""

    rule: Rule
    test: RuleTest
    passed: bool
    got: str

    @property
    def expected(self) -> str:
        return f"fire ({self.test.indicator})" if self.test.indicator else self.test.expect

    @property
    def message(self) -> str:
        return self.got if self.passed else f"expected {self.expected}, got {self.got}"

    def as_error(self) -> LoadError:
        """A failed example as a load error at the example's line in its rule file."""
        service = f" on {self.test.service}" if self.test.service else ""
        return LoadError(self.rule.file, self.test.line, f"example {self.test.fixture}{service} failed: {self.message}",
                         self.rule.id, "fix the rule or its example; `cds rules test` runs every example")


def call_fixture(rules: LoadedRules, fixture: Path, service_id: str | None = None) -> Outcome:
    """Render a fixture and run it through the named service (default: the one for its hook)."""
    request = render_fixture(fixture)
    service = (rules.rulebook.services.get(service_id) if service_id
               else rules.rulebook.service_for_hook(request.get("hook", "")))
    if service is None:
        raise ValueError(f"no service {service_id or 'for hook ' + repr(request.get('hook'))}")
    hook_request, context = parse_request(request, service.hook)
    return run_service(rules, service, hook_request, context, Settings(rules=rules.rulebook.directory),
                       time.monotonic())


def run_rule_tests(rules: LoadedRules) -> list[TestResult]:
    """Every example of every rule that holds under the rules' profile (those naming another are left out)."""
    profile = rules.rulebook.profile
    return [_run_one(rules, rule, test) for rule in rules.rulebook.rules() for test in rule.tests
            if test.profile in (None, profile)]


def example_errors(rules: LoadedRules) -> list[LoadError]:
    """Every failing example of every rule, as load errors: rules that fail them must not go live."""
    return [result.as_error() for result in run_rule_tests(rules) if not result.passed]


def fixture_path(rules: LoadedRules, fixture: str) -> Path | None:
    """A test's fixture, beside the rules directory (a project laid out like this one), else in
    this project's fixtures (a rules directory copied elsewhere)."""
    for root in (rules.rulebook.directory.parent, PROJECT_ROOT):
        if (root / fixture).is_file():
            return root / fixture
    return None


def _run_one(rules: LoadedRules, rule: Rule, test: RuleTest) -> TestResult:
    fixture = fixture_path(rules, test.fixture)
    if fixture is None:
        return TestResult(rule, test, False, f"fixture not found: {test.fixture}")
    try:
        hook = render_fixture(fixture).get("hook", "")
        service = (rules.rulebook.services.get(test.service) if test.service
                   else rules.rulebook.service_for_hook(hook))
        if service is not None and (rule.pack not in service.packs or service.hook not in rule.hooks):
            return TestResult(rule, test, False, f"service {service.id} does not run this rule: it proves nothing")
        outcome = call_fixture(rules, fixture, test.service)
    except Exception as error:  # a broken fixture is a failed test, reported, not a crash
        return TestResult(rule, test, False, f"could not run: {type(error).__name__}: {error}")
    cards: list[dict[str, Any]] = [c for c in outcome.response["cards"]
                                   if c["source"]["topic"]["code"] == rule.id]
    if not cards:
        return TestResult(rule, test, test.expect == "quiet", "quiet")
    got = f"fired ({', '.join(sorted({card['indicator'] for card in cards}))})"
    passed = test.expect == "fire" and (not test.indicator or any(c["indicator"] == test.indicator for c in cards))
    return TestResult(rule, test, passed, got)
