"""`cds rules diff` over the request fixtures, through the real CLI: an edit names exactly the rules whose
text changed and the requests whose cards moved (checked against the service's HTTP answers), a git
revision as the base, the three formats, and clear refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.cli import app
from cds.impact.compare import rule_changes
from cds.rulebook import load_rulebook
from tests.conftest import FIXTURES, client_for, edit_file, fixture_request
from tests.rulebook.test_inline_examples import DEMO

runner = CliRunner()
CORPUS = FIXTURES / "requests"
RULE = "escalation.duplicate-draft"


def _diff(*arguments: str) -> dict:
    result = runner.invoke(app, ["rules", "diff", *arguments, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _services(client) -> dict[str, list[str]]:
    by_hook: dict[str, list[str]] = {}
    for service in client.get("/cds-services").json()["services"]:
        by_hook.setdefault(service["hook"], []).append(service["id"])
    return by_hook


def test_an_edit_names_exactly_its_rule_and_the_requests_whose_cards_moved(rules_copy, settings):
    pack = rules_copy / "packs" / "escalation.yaml"
    edit_file(pack, f"  - id: {RULE}\n    title: The same B12 order drafted twice\n    indicator: warning\n",
              f"  - id: {RULE}\n    title: The same B12 order drafted twice\n    indicator: info\n")
    report = _diff("--base", str(BUNDLED_RULES), "--rules", str(rules_copy), "--corpus", str(CORPUS),
                   "--examples", "100")
    assert report["rule_changes"] == {"added": [], "removed": [], "edited": [RULE], "files": []}
    moved = {i["rule_id"]: i for i in report["impacts"] if i["moved"]}
    assert list(moved) == [RULE]
    impact = moved[RULE]
    assert impact["changes"] == {"appeared": 0, "disappeared": 0, "indicator_changed": impact["fired_before"],
                                 "went_live": 0, "went_silent": 0}
    assert impact["fired_before"] == impact["fired_after"] > 0
    # the requests the live service answers with the rule's card are exactly those that moved
    client = client_for(BUNDLED_RULES, settings)
    expected = set()
    for path in sorted(CORPUS.glob("*.json")):
        request = fixture_request(f"requests/{path.name}")
        for service in _services(client)[request["hook"]]:
            answer = client.post(f"/cds-services/{service}", json=request)
            if answer.status_code == 200 and any(c["source"]["topic"]["code"] == RULE for c in answer.json()["cards"]):
                expected.add(f"{path.name} [{service}]")
    assert set(report["moved"]) == expected == set(impact["examples"]["indicator_changed"])
    assert report["problems"] == [] and report["evaluations"] > len(list(CORPUS.glob("*.json")))


def test_a_silenced_rule_and_the_card_that_yielded_to_it(rules_copy):
    pack = rules_copy / "packs" / "deficiency.yaml"
    edit_file(pack, "  - id: deficiency.malabsorption-oral-dose-too-low\n",
              "  - id: deficiency.malabsorption-oral-dose-too-low\n    mode: silent\n")
    report = _diff("--base", str(BUNDLED_RULES), "--rules", str(rules_copy), "--corpus", str(CORPUS))
    moved = {i["rule_id"]: i for i in report["impacts"] if i["moved"]}
    assert set(moved) == {"deficiency.malabsorption-oral-dose-too-low", "deficiency.indeterminate-check-mma"}
    silenced = moved["deficiency.malabsorption-oral-dose-too-low"]
    assert (silenced["mode_before"], silenced["mode_after"]) == ("live", "silent")
    assert silenced["changes"]["went_silent"] == silenced["fired_before"] == silenced["fired_after"]
    assert "def-pa-indeterminate-oral-100-draft.json [b12-order-sign]" in moved[
        "deficiency.indeterminate-check-mma"]["examples"]["appeared"]


def test_a_git_revision_is_a_base(tmp_path):
    repository = tmp_path / "site"
    shutil.copytree(BUNDLED_RULES, repository / "rules")
    for command in (["init", "-q"], ["add", "rules"], ["-c", "user.name=t", "-c", "user.email=t@example.org",
                                                         "commit", "-qm", "rules"]):
        subprocess.run(["git", "-C", str(repository), *command], check=True)
    edit_file(repository / "rules" / "packs" / "units.yaml", "mg_mcg_confusion_above_mcg: {value: 5000,",
              "mg_mcg_confusion_above_mcg: {value: 5000000,")
    report = _diff("--base", "HEAD", "--rules", str(repository / "rules"), "--corpus", str(CORPUS))
    assert "units.mg-mcg-confusion" in report["rule_changes"]["edited"]
    assert {i["rule_id"] for i in report["impacts"] if i["moved"]} >= {"units.mg-mcg-confusion"}
    gone = next(i for i in report["impacts"] if i["rule_id"] == "units.mg-mcg-confusion")
    assert gone["changes"]["disappeared"] == gone["fired_before"] > 0 == gone["fired_after"]


def test_text_and_markdown_say_the_same(rules_copy):
    edit_file(rules_copy / "packs" / "escalation.yaml", f"  - id: {RULE}\n", f"  - id: {RULE}\n    mode: silent\n")
    arguments = ["rules", "diff", "--base", str(BUNDLED_RULES), "--rules", str(rules_copy), "--corpus", str(CORPUS)]
    text = runner.invoke(app, arguments)
    markdown = runner.invoke(app, [*arguments, "--format", "markdown"])
    assert text.exit_code == markdown.exit_code == 0
    assert f"{RULE} (live → silent)" in text.output and "silent (shown before): " in text.output
    assert f"| `{RULE}` | live → silent |" in markdown.output
    assert runner.invoke(app, [*arguments, "--exit-code"]).exit_code == 1
    same = runner.invoke(app, ["rules", "diff", "--base", str(BUNDLED_RULES), "--corpus", str(CORPUS), "--exit-code"])
    assert same.exit_code == 0 and "no card changed on this corpus" in same.output


@pytest.mark.parametrize(("arguments", "message"), [
    (["--base", "no-such-revision", "--corpus", str(CORPUS)], "neither a directory nor a git revision"),
    (["--base", str(BUNDLED_RULES), "--corpus", str(FIXTURES / "patients")], "no CDS Hooks request"),
    (["--base", str(BUNDLED_RULES), "--corpus", "/no/such/dir"], "is not a directory"),
])
def test_a_base_or_corpus_that_cannot_be_used_is_refused_saying_why(arguments: list[str], message: str):
    result = runner.invoke(app, ["rules", "diff", *arguments])
    assert result.exit_code == 2 and message in result.output


def test_invalid_edited_rules_are_refused_saying_which(rules_copy: Path):
    edit_file(rules_copy / "packs" / "units.yaml", "dose_kind: mass", "dose_knd: mass")
    result = runner.invoke(app, ["rules", "diff", "--base", str(BUNDLED_RULES), "--rules", str(rules_copy),
                                 "--corpus", str(CORPUS)])
    assert result.exit_code == 2 and "edited rules in" in result.output and "units.yaml" in result.output


def test_a_base_without_the_examples_a_rule_now_needs_loads_and_an_untested_draft_needs_allowing(rules_copy, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(BUNDLED_RULES, base)
    pack = base / "packs" / "escalation.yaml"
    text = pack.read_text()
    start = text.index(f"  - id: {RULE}\n")
    tests = text.index("    tests:\n", start)
    end = text.find("\n  - id: ", tests)
    pack.write_text(text[:tests] + text[end + 1 if end > 0 else len(text):])     # the rule without examples
    assert runner.invoke(app, ["rules", "check", str(base)]).exit_code == 1
    report = _diff("--base", str(base), "--corpus", str(CORPUS))
    assert report["rule_changes"]["edited"] == [RULE] and report["moved"] == []

    arguments = ["rules", "diff", "--base", str(BUNDLED_RULES), "--rules", str(base), "--corpus", str(CORPUS)]
    refused = runner.invoke(app, arguments)
    assert refused.exit_code == 2 and "edited rules in" in refused.output and RULE in refused.output
    assert runner.invoke(app, [*arguments, "--allow-untested"]).exit_code == 0


def test_an_edit_of_an_inline_example_alone_names_its_rule_as_edited(tmp_path):
    """Every field of an example counts as the rule's text (inline facts too), but not the line it is on."""
    base, edited = tmp_path / "base", tmp_path / "edited"
    for rules in (base, edited):
        shutil.copytree(BUNDLED_RULES, rules)
        (rules / "packs" / "demo.yaml").write_text(DEMO)
        edit_file(rules / "services.yaml", "frequency, label, escalation]", "frequency, label, escalation, demo]")
    edit_file(edited / "packs" / "demo.yaml", "{kind: hb, value: 90}", "{kind: hb, value: 80}")
    edit_file(edited / "packs" / "demo.yaml", "rules:\n", "rules:\n\n")             # every line below moves
    changes = rule_changes(load_rulebook(base), load_rulebook(edited))
    assert changes.edited == ["demo.low-hb-without-mma"] and not changes.added and not changes.removed
