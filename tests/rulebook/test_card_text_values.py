"""Card text that stays true: a number a parameter (or a facts.yaml value) sets is written as its placeholder,
`cds rules check` flags a literal equal to a value the rule uses, and tuning values (here in a site profile)
changes every card text and rationale that mentions them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.cli import app
from cds.facts.display import format_number
from cds.rulebook import load_rulebook
from cds.rulebook.model import Rule
from tests.conftest import edit_file, line_with

runner = CliRunner()


@pytest.mark.parametrize(("old", "new", "written", "names"), [
    # the rationale after mg_mcg_confusion_above_mcg was tuned: "Above 5000 mcg"
    ("Above {$mg_mcg_confusion_above_mcg} mcg", "Above 5000 mcg", "5000 mcg", "$mg_mcg_confusion_above_mcg"),
    # a suggestion label hard-coding the usual dose the suggestion orders ($regimen.usual_dose_mcg)
    ('label: "Correct the dose to {$regimen.usual_dose_mcg} mcg', 'label: "Correct the dose to 1,000 mcg (1 mg)',
     "1,000 mcg", "$regimen.usual_dose_mcg"),
    # the same in another unit: 5 mg is 5000 mcg
    ("Above {$mg_mcg_confusion_above_mcg} mcg", "Above 5 mg", "5 mg", "$mg_mcg_confusion_above_mcg"),
])
def test_a_literal_equal_to_a_value_the_rule_uses_is_an_error_at_its_line(rules_copy, old, new, written, names):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, old, new)
    result = runner.invoke(app, ["rules", "check", str(rules_copy)])
    assert result.exit_code == 1
    assert f"{pack}:{line_with(pack, new)} [units.mg-mcg-confusion]: '{written}' is the value of {names}: write " \
           f"{{{names}}} so the text follows it" in result.output, result.output


def test_figures_a_source_gives_and_numbers_the_rule_does_not_use_are_not_flagged(rules_copy):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, "Above {$mg_mcg_confusion_above_mcg} mcg", 'The BNF writes "5000 mcg"; 5000-fold; 5000 mL')
    assert runner.invoke(app, ["rules", "check", str(rules_copy)]).exit_code == 0


def _texts(rule: Rule) -> dict[str, str]:
    """Every text of a rule as loaded (values filled in), by where it is written."""
    card = rule.card
    return {"summary": card["summary"], "detail": card["detail"], "rationale": rule.rationale,
            **{f"suggestion {i}": s["label"] for i, s in enumerate(card.get("suggestions", []))},
            **{f"note {i}": n["text"] for i, n in enumerate(card.get("notes", []))}}


def _written(rules: Path) -> dict[str, dict[str, str]]:
    """Every rule's texts as written in its pack file, by rule id."""
    found = {}
    for path in (rules / "packs").glob("*.yaml"):
        for raw in yaml.safe_load(path.read_text())["rules"]:
            card = raw["card"]
            found[raw["id"]] = {"summary": card["summary"], "detail": card["detail"], "rationale": raw["rationale"],
                                **{f"suggestion {i}": s["label"] for i, s in enumerate(card.get("suggestions", []))},
                                **{f"note {i}": n["text"] for i, n in enumerate(card.get("notes", []))}}
    return found


def _tuned(value: Any, offset: int) -> Any:
    return value + offset if isinstance(value, int) else round(value * 1.1 + offset, 2)


def test_tuning_every_value_changes_every_text_that_mentions_it(rules_copy):
    """Every numeric pack parameter and facts.yaml status/regimen value tuned at once, in a site profile."""
    original = load_rulebook(rules_copy)
    parameters = {name: {key: _tuned(value, offset) for offset, (key, value) in enumerate(pack.parameters.items(), 1)
                         if "." not in key and isinstance(value, int | float) and not isinstance(value, bool)}
                  for name, pack in original.packs.items()}
    facts = {section: {key: _tuned(value, offset) for offset, (key, value) in enumerate(
        original.facts_config[section].items(), 1) if not isinstance(value, bool)} for section in ("status", "regimen")}
    profile = {"profile": "tuned", "title": "every value tuned", "facts": facts,
               "parameters": {pack: values for pack, values in parameters.items() if values}}
    (rules_copy / "profiles" / "tuned.yaml").write_text(yaml.safe_dump(profile))
    tuned = load_rulebook(rules_copy, profile="tuned")
    written = _written(rules_copy)
    mentions = 0
    for rule in tuned.rules():
        before = _texts(original.rule(rule.id))
        for where, text in _texts(rule).items():
            for name, value in rule.values.items():
                if f"{{${name}}}" in written[rule.id][where] and isinstance(value, int | float):
                    mentions += 1
                    assert format_number(value) in text, (rule.id, where, name, value, text)
                    assert text != before[where], (rule.id, where, name)
    assert mentions > 40
    assert load_rulebook(BUNDLED_RULES).rule("units.mg-mcg-confusion").rationale != \
        tuned.rule("units.mg-mcg-confusion").rationale
