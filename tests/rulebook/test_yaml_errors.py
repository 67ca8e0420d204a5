"""A rule file that is not valid YAML is reported in plain words: file, line, the line with a caret under
the spot, and the likely cause. Each case is a real broken copy of a bundled rule file."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.cli import app
from cds.rulebook import RulebookError, load_rulebook
from cds.rulebook.yamlerrors import syntax_error
from cds.rulebook.yamlsource import read_yaml
from tests.conftest import client_for, edit_file

HOOKS = "    hooks: [order-select, order-sign, medication-prescribe]   # doses of drafts: not on patient-view\n"
CASES = {  # name: (old, new, line, caret column, message, hint)
    "empty list with items": ("rules:\n", "rules: []\n", 14, 7,
                              "a list item under `rules: []`: the `[]` says it is empty", "remove the `[]`"),
    "tab indentation": ("    title: Likely mg", "\ttitle: Likely mg", 16, 0,
                        "a tab is used for indentation", "spaces only"),
    "missing colon": ("    indicator: critical\n", "    indicator critical\n", 17, 13,
                      "a colon is missing after 'indicator'", "write 'indicator: ...'"),
    "no space after colon": ("    priority: 10", "    priority:10", 19, 13,
                             "no space after the colon", "write 'priority: 10'"),
    "unclosed double quote": ('usual_dose_mcg} mcg)"\n', "usual_dose_mcg} mcg)\n", 28, 15,
                              'the quote " opened here is not closed', 'end the value with "'),
    "unclosed single quote": ("title: Unit confusion", "title: 'Unit confusion", 4, 7,
                              "the quote ' opened here is not closed", "end the value with '"),
    "unclosed bracket": ("medication-prescribe]   # doses", "medication-prescribe   # doses", 18, 11,
                         "the [ opened here is not closed", "close it with ]"),
    "unclosed brace": ("dose: {value: $regimen.usual_dose_mcg, unit: mcg}",
                       "dose: {value: $regimen.usual_dose_mcg, unit: mcg", 39, 18,
                       "the { opened here is not closed", "close it with }"),
    "colon in an unquoted value": ('summary: "B12 dose {draft_order.dose_text} = {draft_order.dose_mcg} mcg: likely',
                                   "summary: B12 dose {draft_order.dose_text} = {draft_order.dose_mcg} mcg: likely",
                                   28, 76, "a colon followed by a space inside a value", "put the whole value in"),
    "indented less than its siblings": (HOOKS, HOOKS.replace("    ", "   ", 1), 18, 3,
                                        "inconsistent indentation: this line is indented 3 spaces",
                                        "indent it 4 spaces like line 17 or 2 spaces like line 15"),
    "indented more than its siblings": (HOOKS, "  " + HOOKS, 18, 6,
                                        "inconsistent indentation: this line is indented 6 spaces",
                                        "indent it 4 spaces like line 17"),
    "list item out of line": ("  - id: units.dose-above-label", " - id: units.dose-above-label", 70, 1,
                              "this line is indented 1 space,", "2 spaces like line 15"),
    # PyYAML: "expected <block end>, but found '?'" (issue 21)
    "card indented under a when item": ("    card:\n      summary:", "      card:\n        summary:", 27, 6,
                                        "`card:` is lined up with the '- ' of the list items above (line 21), so "
                                        "YAML reads it inside that list",
                                        "indent it 4 spaces like `when:` on line 20 or 8 spaces like the keys of the "
                                        "item on line 21"),
    # PyYAML: "expected <block end>, but found '-'"
    "list item among keys": ("    priority: 10", "    - priority: 10", 19, 4,
                             "a list item ('- ') among the keys of a mapping", "put the list under a key of its own"),
    # PyYAML: "expected alphabetic or numeric character, but found '*'"
    "text out of its block": ("        The dose is written as a volume or container: **",
                              "      The dose is written as a volume or container: **", 124, 52,
                              "YAML reads this '*' as an alias (*name): the text is outside any block of text",
                              "indent it like that text; else put the value in quotes"),
}
RAW = ("expected <block end>", "mapping values are not allowed", "did not find expected", "while parsing", "but found")


@pytest.mark.parametrize("case", CASES)
def test_a_yaml_mistake_is_explained_at_its_line(rules_copy, case):
    old, new, line, column, message, hint = CASES[case]
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, old, new)
    with pytest.raises(RulebookError) as raised:
        load_rulebook(rules_copy)
    [error] = raised.value.errors
    shown, caret = error.excerpt.splitlines()
    assert (error.file, error.line) == (str(pack), line)
    assert error.message.startswith("not valid YAML: ") and message in error.message
    assert hint in error.hint
    assert shown == f"    {line} | {pack.read_text().splitlines()[line - 1].replace(chr(9), '→')}"
    assert caret == f"    {' ' * len(str(line))} | {' ' * column}^"


def test_no_indentation_mistake_shows_pyyamls_own_words(tmp_path):
    """Every line of a pack's first rule indented 1 or 2 spaces more, or 2 less: whatever breaks is said in
    plain words."""
    lines = (BUNDLED_RULES / "packs" / "units.yaml").read_text().splitlines()
    first_rule = lines.index("  - id: units.dose-above-label")
    broken, path = 0, tmp_path / "units.yaml"
    for index, line in enumerate(lines[:first_rule]):
        indent = len(line) - len(line.lstrip())
        for shift in (s for s in (1, 2, -2) if line.strip() and indent + s >= 0):
            path.write_text("\n".join([*lines[:index], " " * (indent + shift) + line.lstrip(), *lines[index + 1:]]))
            try:
                read_yaml(path)
            except yaml.YAMLError as error:
                broken += 1
                explained = syntax_error(path, error)
                assert not any(words in explained.message for words in RAW), (index + 1, shift, str(explained))
                assert explained.excerpt, (index + 1, shift, str(explained))
    assert broken > 100


def test_rules_check_startup_and_readyz_show_the_explained_error(rules_copy, settings):
    client = client_for(rules_copy, settings)
    edit_file(rules_copy / "packs" / "units.yaml", "rules:\n", "rules: []\n")
    expected = "units.yaml:14: not valid YAML: a list item under `rules: []`"
    caret = "    14 | rules: []\n       |        ^"

    checked = CliRunner().invoke(app, ["rules", "check", str(rules_copy)])
    assert checked.exit_code == 1 and expected in checked.output and caret in checked.output
    started = CliRunner().invoke(app, ["serve", "--port", "0", "--rules", str(rules_copy)])
    assert started.exit_code == 2 and expected in started.output and caret in started.output
    assert client.app.state.runtime.reload() is False
    [reported] = client.get("/readyz").json()["reloadErrors"]
    assert expected in reported and reported.endswith(caret)
