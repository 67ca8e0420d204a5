"""The mistakes issue 21 lists are `cds rules check` errors at their file:line, through the real CLI on a copy
of the bundled rules: a value of the wrong type for a fact field, a number no lab result can be, a parameter
of the wrong type, a fixture that does not exist, a rule without an example that stays quiet (a warning with
--allow-untested), and a `card:` indented under a `when` item."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import app
from tests.conftest import edit_file, line_with

runner = CliRunner()
QUIET_EXAMPLES = """      - fixture: fhir_fixtures/requests/label-cyano-1000mcg-monthly-quiet.json
        expect: quiet
      - fixture: fhir_fixtures/requests/label-hydroxo-iv-1mg.json
        expect: quiet
"""


def _check(rules: Path, *options: str) -> tuple[int, str]:
    result = runner.invoke(app, ["rules", "check", str(rules), *options])
    return result.exit_code, result.output


@pytest.mark.parametrize(("pack", "old", "new", "message"), [
    ("deficiency.yaml", "          malabsorption_cause: true\n", '          malabsorption_cause: "yes"\n',
     "[deficiency.malabsorption-lifelong]: 'patient.malabsorption_cause' is yes/no, not 'yes' "
     "(hint: write true or false (no quotes))"),
    ("route.yaml", "where: {ingredient: cyano, route: iv, antidote: false}",
     "where: {ingredient: cyano, route: iv, antidote: false, dose_mcg: {gt: high}}",
     "[route.cyanocobalamin-iv]: 'draft_order.dose_mcg' is number, not 'high'"),
    ("route.yaml", "where: {ingredient: cyano, route: iv, antidote: false}",
     "where: {ingredient: cyano, route: intravenous, antidote: false}",
     "[route.cyanocobalamin-iv]: 'draft_order.route' is never 'intravenous' (hint: write one of: im, sc, iv, oral, "
     "nasal, unknown)"),
    ("route.yaml", "rules:\n  - id: route.cyanocobalamin-iv",   # a yes/no field compared with a number parameter
     "parameters:\n  established: {value: 28, unit: d}\nrules:\n  - id: route.cyanocobalamin-iv",
     None),
    ("deficiency.yaml", "          malabsorption_cause: true\n",
     "          malabsorption_cause: true\n          hb: {lt: 11}\n",
     "[deficiency.malabsorption-lifelong]: 11 is not a plausible hb result in g/L (facts.yaml labs.hb: 30 to 250) "
     "(hint: 'patient.hb' is in g/L: was the value written in another unit?)"),
])
def test_a_wrong_value_for_a_fact_field_is_an_error_at_its_line(rules_copy, pack, old, new, message):
    path = rules_copy / "packs" / pack
    edit_file(path, old, new)
    if message is None:
        new = "where: {ingredient: cyano, route: iv, antidote: false, cyanokit: $established}"
        edit_file(path, "where: {ingredient: cyano, route: iv, antidote: false}", new)
        message = "[route.cyanocobalamin-iv]: '$established' is 28, and 'draft_order.cyanokit' is yes/no " \
                  "(hint: compare it with true or false (no quotes))"
    code, output = _check(rules_copy)
    line = line_with(path, new.strip().splitlines()[-1])
    assert code == 1 and f"{path}:{line} {message}" in output, output


def test_a_fixture_that_does_not_exist_is_an_error_at_the_example(rules_copy):
    path = rules_copy / "packs" / "route.yaml"
    edit_file(path, "requests/label-cyano-iv.json", "requests/label-cyano-iv.jsn")
    code, output = _check(rules_copy)
    assert code == 1
    assert f"{path}:{line_with(path, 'label-cyano-iv.jsn')} [route.cyanocobalamin-iv]: example fixture not found: " \
           "fhir_fixtures/requests/label-cyano-iv.jsn (hint: did you mean 'label-cyano-iv.json'?)" in output, output


def test_a_rule_needs_an_example_that_stays_quiet_unless_allowed_untested(rules_copy):
    path = rules_copy / "packs" / "route.yaml"
    edit_file(path, QUIET_EXAMPLES, "")
    code, output = _check(rules_copy)
    expected = f"{path}:{line_with(path, 'id: route.cyanocobalamin-iv')} [route.cyanocobalamin-iv]: rule has no " \
               "example that stays quiet"
    assert code == 1 and expected in output and "--allow-untested" in output, output
    code, output = _check(rules_copy, "--allow-untested")
    assert code == 0 and f"warning: {expected}" in output, output


def test_a_card_indented_under_a_when_item_is_explained_in_plain_words(rules_copy):
    path = rules_copy / "packs" / "route.yaml"
    edit_file(path, '    card:\n      summary: "Cyanocobalamin', '      card:\n        summary: "Cyanocobalamin')
    code, output = _check(rules_copy)
    line = line_with(path, "      card:")
    assert code == 1 and "expected <block end>" not in output
    assert f"{path}:{line}: not valid YAML: `card:` is lined up with the '- ' of the list items above" in output
    assert f"    {line} |       card:\n       |       ^" in output
