"""What an edit of the rules changes: rules whose text changed, and per rule what its cards did on the corpus."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from cds.facts.recorded import inexact_fields
from cds.impact.corpus import Corpus, RecordedCase
from cds.impact.evaluate import Card, Evaluated, recorded_cards
from cds.rulebook.conditions import Condition
from cds.rulebook.model import Rule, Rulebook

CHANGES = ("appeared", "disappeared", "indicator_changed", "went_live", "went_silent")


@dataclass
class RuleImpact:
    """One rule on the corpus under each rulebook: cards (one per evaluation and order) and distinct patients,
    and each change, with up to `examples` evaluation refs per change."""

    rule_id: str
    mode_before: str | None          # None: not in those rules
    mode_after: str | None
    fired_before: int = 0
    fired_after: int = 0
    patients_before: int = 0
    patients_after: int = 0
    changes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANGES, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {change: [] for change in CHANGES})

    @property
    def moved(self) -> bool:
        return any(self.changes.values())


@dataclass(frozen=True)
class RuleChanges:
    added: list[str]
    removed: list[str]
    edited: list[str]
    files: list[str]                 # other rule files whose content changed (value sets, services, …)


@dataclass
class Impact:
    base: str
    rules: str
    corpus: str
    evaluations: int
    rule_changes: RuleChanges
    impacts: list[RuleImpact]        # every rule that fired under either rulebook or changed: moved first
    moved: list[str]                 # refs of the evaluations whose cards changed
    problems: list[str]              # evaluations that could not run (under either rulebook)
    warnings: list[str]


def compare(base: Rulebook, edited: Rulebook, corpus: Corpus, before: dict[str, Evaluated],
            after: dict[str, Evaluated], examples: int) -> Impact:
    """The impact of replacing `base` by `edited` on the corpus both were evaluated on."""
    changes = rule_changes(base, edited)
    impacts: dict[str, RuleImpact] = {}

    def impact(rule_id: str) -> RuleImpact:
        if rule_id not in impacts:
            impacts[rule_id] = RuleImpact(rule_id, _mode(base, rule_id), _mode(edited, rule_id))
        return impacts[rule_id]

    patients: dict[tuple[str, str], set[str]] = defaultdict(set)
    moved = []
    for ref in sorted(set(before) | set(after)):
        old, new = before.get(ref), after.get(ref)
        old_cards, new_cards = old.cards if old else {}, new.cards if new else {}
        patient = (old or new).patient  # type: ignore[union-attr]
        for (rule_id, _), _card in old_cards.items():
            impact(rule_id).fired_before += 1
            patients[rule_id, "before"].add(patient)
        for (rule_id, _), _card in new_cards.items():
            impact(rule_id).fired_after += 1
            patients[rule_id, "after"].add(patient)
        changed = False
        for key in old_cards.keys() | new_cards.keys():
            change = _change(old_cards.get(key), new_cards.get(key))
            if change:
                changed = True
                found = impact(key[0])
                found.changes[change] += 1
                if len(found.examples[change]) < examples and ref not in found.examples[change]:
                    found.examples[change].append(ref)
        if changed:
            moved.append(ref)
    for rule_id in changes.added + changes.removed + changes.edited:
        impact(rule_id)
    for found in impacts.values():
        found.patients_before = len(patients[found.rule_id, "before"])
        found.patients_after = len(patients[found.rule_id, "after"])
    problems = sorted({f"{e.ref}: {e.problem}" for e in (*before.values(), *after.values()) if e.problem})
    return Impact(str(base.directory), str(edited.directory), corpus.source, len(set(before) | set(after)), changes,
                  sorted(impacts.values(), key=lambda i: (not i.moved, i.rule_id)), moved, problems,
                  _warnings(base, edited, corpus, before))


def rule_changes(base: Rulebook, edited: Rulebook) -> RuleChanges:
    """Rules added, removed and edited (anything but where they are written and their pack's version), and the
    other rule files whose content changed."""
    old = {rule.id: _definition(rule) for rule in base.rules()}
    new = {rule.id: _definition(rule) for rule in edited.rules()}
    files = [name for name, then, now in (
        ("facts.yaml", base.facts_config, edited.facts_config), ("valuesets.yaml", base.valuesets, edited.valuesets),
        ("regimens.yaml", (base.regimens, base.products), (edited.regimens, edited.products)),
        ("services.yaml", (base.services, base.override_reasons, base.prefetch),
         (edited.services, edited.override_reasons, edited.prefetch)),
        ("site profile", base.profile, edited.profile)) if then != now]
    return RuleChanges(sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys()),
                       sorted(rule_id for rule_id in old.keys() & new.keys() if old[rule_id] != new[rule_id]), files)


def _definition(rule: Rule) -> dict[str, Any]:
    """What a rule says, as comparable data (conditions as written: not the lines they are on)."""
    return {"title": rule.title, "indicator": rule.indicator, "hooks": rule.hooks, "priority": rule.priority,
            "mode": rule.mode, "when": [condition.written for condition in rule.when],
            "cases": [(case.indicator, [condition.written for condition in case.when]) for case in rule.cases],
            "card": rule.card, "rationale": rule.rationale, "references": rule.references,
            "yields_to": rule.yields_to, "values": rule.values,
            "tests": [replace(test, line=0) for test in rule.tests]}   # every field of an example, inline facts too


def _change(old: Card | None, new: Card | None) -> str | None:
    if old is None:
        return None if new is None else "appeared"
    if new is None:
        return "disappeared"
    if old.silent != new.silent:
        return "went_silent" if new.silent else "went_live"
    return "indicator_changed" if old.indicator != new.indicator else None


def _mode(rulebook: Rulebook, rule_id: str) -> str | None:
    rule = rulebook.rule(rule_id)
    return rule.mode if rule else None


def _warnings(base: Rulebook, edited: Rulebook, corpus: Corpus, before: dict[str, Evaluated]) -> list[str]:
    """For a recorded corpus: rules whose conditions test a field recorded scrubbed or coarsened (their replay
    may differ from live), and evaluations recorded under the base rules whose replay gives other cards than
    the live call did."""
    recorded = [case for case in corpus.cases if isinstance(case, RecordedCase)]
    if not recorded:
        return []
    inexact = inexact_fields()
    tested = sorted({f"{rule.id} tests {c.fact_type}.{test.field}" for book in (base, edited) for rule in book.rules()
                     for c in (*rule.when, *(w for case in rule.cases for w in case.when)) if isinstance(c, Condition)
                     for test in c.tests() if (c.fact_type, test.field) in inexact
                     and any(comparison.op != "known" for comparison in test.comparisons)})
    warnings = [f"{line}, which recorded evaluations do not keep exactly: its replay may differ" for line in tested]
    drifted = [case.ref for case in recorded if case.rules_digest == base.digest
               and (found := before.get(f"{case.ref} [{case.service_id}]")) is not None
               and found.problem is None and found.cards != recorded_cards(case)]
    if drifted:
        warnings.append(f"{len(drifted)} evaluations recorded under the base rules replay to other cards than their "
                        f"live call gave (e.g. {', '.join(drifted[:3])})")
    return warnings
