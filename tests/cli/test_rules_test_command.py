"""`cds rules test` through the real CLI: selecting examples (--rule, -k), a failure shown at its file:line with
its rule's trace, text, JSON and JUnit XML (valid against the JUnit schema Jenkins reads), and the summary line
`cds serve` logs at start."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import xmlschema
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.cli import app
from cds.rulebook import load_rulebook
from tests.conftest import edit_file, line_with

runner = CliRunner()
JUNIT_XSD = Path(__file__).parents[1] / "schemas" / "junit-10.xsd"
BROKEN = ("{ingredient: cyano, route: iv, antidote: false}", "{ingredient: cyano, route: sc, antidote: false}")


@pytest.fixture
def broken(rules_copy: Path) -> Path:
    """Rules whose route.cyanocobalamin-iv tests the wrong route: its firing example fails."""
    edit_file(rules_copy / "packs" / "route.yaml", *BROKEN)
    return rules_copy


def test_a_failing_example_is_shown_at_its_file_and_line_with_the_trace_of_its_rule(broken):
    result = runner.invoke(app, ["rules", "test", str(broken), "--rule", "route.cyanocobalamin-iv"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    route = broken / "packs" / "route.yaml"
    failed = lines.index("FAILED route.cyanocobalamin-iv [fhir_fixtures/requests/label-cyano-iv.json expect fire] "
                         "expected fire (warning), got quiet")
    assert lines[failed + 1] == f"    at {route}:{line_with(route, '- fixture: fhir_fixtures/requests/label-cyano-iv')}"
    assert lines[failed + 2:failed + 6] == [
        "    on b12-order-sign:",
        "    quiet  route.cyanocobalamin-iv",
        '        failed      {"fact": "draft_order", "where": {"ingredient": "cyano", "route": "sc", '
        '"antidote": false}}'
        f"  (line {line_with(route, '- fact: draft_order', after='id: route.cyanocobalamin-iv')})",
        '                    {"id": "draft-cyano-iv", "antidote": false, "ingredient": "cyano", "route": "iv"}']
    assert lines[-1] == "1 rule, 3 examples: 1 failed"


def test_rule_and_k_select_examples():
    one = runner.invoke(app, ["rules", "test", "--rule", "route.cyanocobalamin-iv", "--rule", "units.mg-mcg-confusion"])
    assert one.exit_code == 0, one.output
    ran = {line.split()[1] for line in one.output.splitlines()[:-1]}
    assert ran == {"route.cyanocobalamin-iv", "units.mg-mcg-confusion"}
    rulebook = load_rulebook(BUNDLED_RULES)
    examples = sum(len([t for t in rulebook.rule(r).tests if t.profile in (None, "uk")]) for r in ran)
    assert one.output.splitlines()[-1] == f"2 rules, {examples} examples: all passed"
    by_pattern = runner.invoke(app, ["rules", "test", "-k", "units.*"])
    assert {line.split()[1].split(".")[0] for line in by_pattern.output.splitlines()[:-1]} == {"units"}
    by_fixture = runner.invoke(app, ["rules", "test", "-k", "label-cyano-iv"])
    assert all("label-cyano-iv.json" in line for line in by_fixture.output.splitlines()[:-1])
    assert by_fixture.exit_code == 0 and by_fixture.output.splitlines()[-1] == "1 rule, 1 example: all passed"
    nothing = runner.invoke(app, ["rules", "test", "-k", "no-such-example"])
    assert nothing.exit_code == 1 and "no examples selected" in nothing.output
    unknown = runner.invoke(app, ["rules", "test", "--rule", "route.cyanocobalamine-iv"])
    assert unknown.exit_code == 2 and "no rule 'route.cyanocobalamine-iv' (did you mean 'route.cyanocobalamin-iv'?)" \
        in unknown.output


def test_junit_output_validates_against_the_jenkins_junit_schema_and_carries_the_failure(broken):
    result = runner.invoke(app, ["rules", "test", str(broken), "-k", "route.", "--format", "junit"])
    assert result.exit_code == 1
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    schema.validate(result.output)
    report = schema.to_dict(result.output)
    [suite] = report["testsuite"]
    assert (suite["@name"], suite["@failures"], suite["@tests"]) == ("route", "1", "6")
    failures = [case for case in suite["testcase"] if "failure" in case]
    assert [case["@classname"] for case in failures] == ["route.cyanocobalamin-iv"]
    [failure] = failures[0]["failure"]
    route = broken / "packs" / "route.yaml"
    assert failure["@message"] == "expected fire (warning), got quiet"
    assert f"at {route}:{line_with(route, '- fixture: fhir_fixtures/requests/label-cyano-iv')}" in failure["$"]
    assert '"route": "iv"' in failure["$"]


def test_junit_output_of_passing_examples_is_valid_too():
    result = runner.invoke(app, ["rules", "test", "--format", "junit"])
    assert result.exit_code == 0
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(result.output)
    assert re.search(r'<testsuites name="cds rules test" tests="\d+" failures="0"', result.output)


def test_json_output_gives_each_example_and_a_failures_trace(broken):
    result = runner.invoke(app, ["rules", "test", str(broken), "--rule", "route.cyanocobalamin-iv", "--format", "json"])
    report = json.loads(result.output)
    assert report["summary"] == "1 rule, 3 examples: 1 failed" and report["passed"] is False
    failed = [example for example in report["examples"] if not example["passed"]]
    assert [(e["rule"], e["example"], e["expect"], e["got"], e["service"]) for e in failed] == [
        ("route.cyanocobalamin-iv", "fhir_fixtures/requests/label-cyano-iv.json", "fire (warning)", "quiet",
         "b12-order-sign")]
    [condition] = failed[0]["trace"]["conditions"]
    assert condition["status"] == "failed" and condition["facts"][0]["route"] == "iv"
    assert all("trace" not in example for example in report["examples"] if example["passed"])

