"""Checks of the examples rules carry (`tests:`): each fixture exists, each service named exists, inline facts
name lab kinds and value sets the rule files define, and each rule has an example that fires and one that
stays quiet (a draft rule may go without, as warnings, with `--allow-untested`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cds import PROJECT_ROOT
from cds.facts.catalogue import field_spec
from cds.facts.examples import example_values
from cds.rulebook.checks import closest
from cds.rulebook.model import LoadError, Rule, RuleTest

UNTESTED_HINT = "`--allow-untested` loads a draft rule anyway"


def fixture_path(directory: Path, fixture: str) -> Path | None:
    """An example's fixture, beside the rules directory (a project laid out like this one), else in this
    project's fixtures (a rules directory copied elsewhere)."""
    for root in (directory.parent, PROJECT_ROOT):
        if (root / fixture).is_file():
            return root / fixture
    return None


def check_examples(rules: Iterable[Rule], directory: Path, services: set[str], values: dict[str, set[str]],
                   allow_untested: bool) -> tuple[list[LoadError], list[LoadError]]:
    """The errors and warnings of every rule's examples; `values`: what fields of `values_from` may hold."""
    errors: list[LoadError] = []
    warnings: list[LoadError] = []
    for rule in rules:
        for test in rule.tests:
            errors += _check_example(rule, test, directory, services, values)
        missing = [f"example that {words}" for expect, words in (("fire", "fires"), ("quiet", "stays quiet"))
                   if not any(test.expect == expect for test in rule.tests)]
        if missing:
            (warnings if allow_untested else errors).append(LoadError(
                rule.file, rule.line, f"rule has no {' and no '.join(missing)}", rule.id,
                "add them under 'tests:', a request fixture or inline facts each; " + UNTESTED_HINT))
    return errors, warnings


def _check_example(rule: Rule, test: RuleTest, directory: Path, services: set[str],
                   values: dict[str, set[str]]) -> list[LoadError]:
    def error(message: str, hint: str | None) -> LoadError:
        return LoadError(rule.file, test.line, message, rule.id, hint)

    found = []
    if test.service is not None and test.service not in services:
        found.append(error(f"example names no service '{test.service}'", closest(test.service, services)))
    if test.fixture is not None and fixture_path(directory, test.fixture) is None:
        found.append(error(f"example fixture not found: {test.fixture}", _nearby(directory, test.fixture)))
    for fact_type, name, value in example_values(test.facts or {}):
        spec = field_spec(fact_type, name)
        allowed = values.get(spec.values_from) if spec and spec.values_from else None
        if allowed is not None and value not in allowed:
            found.append(error(f"'{fact_type}.{name}' is never '{value}'",
                               closest(str(value), allowed) or f"one of: {', '.join(sorted(allowed))}"))
    return found


def _nearby(directory: Path, fixture: str) -> str:
    """A fixture of a similar name in the folder named, or where paths are read from."""
    for root in (directory.parent, PROJECT_ROOT):
        folder = (root / fixture).parent
        if folder.is_dir():
            near = closest(Path(fixture).name, {path.name for path in folder.glob("*.json")})
            if near:
                return near
    return f"paths are relative to {directory.parent} (the folder above the rules directory)"
