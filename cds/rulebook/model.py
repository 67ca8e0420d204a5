"""The loaded, validated rulebook: packs, rules, services and normalization data."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

from cds.facts.model import Hook
from cds.rulebook.conditions import Condition
from cds.rulebook.regimens import Regimen, SuggestedProduct

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}
SUMMARY_LIMIT = 140  # CDS Hooks: a card summary is under 140 characters
HOOKS: tuple[str, ...] = get_args(Hook)
Mode = Literal["live", "silent"]   # silent: evaluated and logged, never shown (docs/lifecycle.md)


@dataclass(frozen=True)
class LoadError:
    """One problem in a rule file, located for the person who has to fix it."""

    file: str
    line: int
    message: str
    rule_id: str | None = None
    hint: str | None = None
    excerpt: str | None = None  # the offending line with a caret under the spot

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        shown = f"\n{self.excerpt}" if self.excerpt else ""
        return f"{where}{rule}: {self.message}{hint}{shown}"


class RulebookError(Exception):
    """Raised when rule files fail validation; carries every error found."""

    def __init__(self, errors: list[LoadError]):
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass(frozen=True)
class RuleTest:
    """An example a rule must fire or stay quiet on: a request fixture, or facts written inline."""

    expect: str
    fixture: str | None = None
    facts: dict[str, Any] | None = None   # fact type → one fact's fields, or a list of facts
    service: str | None = None
    indicator: str | None = None
    profile: str | None = None  # run only under this site profile (None: under every profile)
    line: int = 1  # where the example is written in its rule file

    @property
    def label(self) -> str:
        """What the example runs on, in words: its fixture, or its inline facts and their line."""
        return self.fixture or f"inline facts, line {self.line}"


@dataclass(frozen=True)
class Case:
    """Another indicator when these conditions also hold (the first case that holds wins)."""

    indicator: str
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    indicator: str
    hooks: tuple[str, ...]
    priority: int
    when: tuple[Condition, ...]
    cases: tuple[Case, ...]
    card: dict[str, Any]                 # as written, with every {$...} value filled in
    rationale: str
    references: tuple[dict[str, str], ...]
    tests: tuple[RuleTest, ...]
    pack: str
    pack_version: str
    file: str
    line: int
    yields_to: tuple[str, ...] = ()      # rule ids, or ("any",): its card is dropped beside theirs on one order
    values: dict[str, Any] = field(default_factory=dict)   # the $values its conditions and text name, as loaded
    mode: Mode = "live"                  # its own, else its pack's

    @property
    def silent(self) -> bool:
        """Evaluated and logged (marked silent), never returned to the EHR and never changing another card."""
        return self.mode == "silent"


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    title: str
    parameters: dict[str, Any]           # with the profile's values, and facts.yaml's as status.x, regimen.x
    rules: tuple[Rule, ...]
    file: str


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    packs: tuple[str, ...]
    usage_requirements: str = ""         # this service's own, added to the rulebook's


@dataclass(frozen=True)
class Rulebook:
    """Everything under rules/, validated. Immutable: a reload builds a new one."""

    directory: Path
    packs: dict[str, Pack]
    services: dict[str, Service]
    prefetch: dict[str, str]
    card_source_label: str
    usage_requirements: str
    override_reasons: dict[str, dict[str, str]]
    facts_config: dict[str, Any]         # with the profile's values
    valuesets: dict[str, Any]
    regimens: dict[str, Regimen]         # with the profile's
    products: dict[str, SuggestedProduct]   # what suggestions may order (regimens.yaml)
    open_supply_days: float
    profile: str
    profile_title: str
    digest: str
    warnings: tuple[LoadError, ...] = field(default=())

    def rules(self) -> list[Rule]:
        return [rule for pack in self.packs.values() for rule in pack.rules]

    @cached_property
    def _rules_by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules()}

    def rule(self, rule_id: str) -> Rule | None:
        return self._rules_by_id.get(rule_id)

    def service_for_hook(self, hook: str) -> Service | None:
        """The first declared service for `hook` (used when a test names no service)."""
        return next((s for s in self.services.values() if s.hook == hook), None)
