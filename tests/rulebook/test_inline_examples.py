"""A pack written only with inline examples (`facts:` instead of a request fixture) loads, is tested by
`cds rules test`, gates loading at start and on reload, and its mistakes are load errors at their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import app
from cds.rulebook import RulebookError, load_rulebook
from cds.runtime import RuleRuntime
from tests.conftest import edit_file

runner = CliRunner()
DEMO = """\
# yaml-language-server: $schema=../schema/rule-pack.schema.json
pack: demo
version: "2026-12-10"
parameters:
  low_hb: {value: 100, unit: g/L, description: "An Hb below this is low here."}
rules:
  - id: demo.oral-in-neuropathy
    title: Oral B12 drafted despite neuropathy
    indicator: info
    hooks: [order-select, order-sign]
    when:
      - fact: patient
        where: {neuro_findings: true}
      - fact: draft_order
        where: {route: oral, antidote: false}
    card:
      summary: "Oral B12 ({draft_order.dose_text}) with neuropathy: {patient.neuro_text}"
      detail: Consider IM loading.
    rationale: NICE CKS; neurological involvement needs parenteral treatment.
    tests:
      - facts:
          patient: {neuro_findings: true, neuro_text: paraesthesia}
          draft_order: {route: oral, antidote: false, dose_text: 1 mg}
        expect: fire
        indicator: info
      - facts:
          patient: {neuro_findings: true}
          draft_order: [{route: im, antidote: false}, {route: sc, antidote: false}]
        expect: quiet

  - id: demo.low-hb-without-mma
    title: Low Hb and no MMA
    indicator: info
    when:
      - fact: lab
        where: {kind: hb, value: {lt: $low_hb}}
      - absent: lab
        where: {kind: mma}
    card:
      summary: "Hb {lab.value} g/L and no MMA"
      detail: Order an MMA.
    rationale: A demonstration.
    tests:
      - facts: {lab: [{kind: hb, value: 90}, {kind: egfr, value: 80}]}
        expect: fire
      - facts: {lab: [{kind: hb, value: 120}, {kind: b12_total, value: 250}]}
        expect: quiet
"""


@pytest.fixture
def demo(rules_copy: Path) -> Path:
    """The bundled rules plus the demo pack, run by b12-order-select (the first service in services.yaml)."""
    (rules_copy / "packs" / "demo.yaml").write_text(DEMO)
    edit_file(rules_copy / "services.yaml", "frequency, label, escalation]", "frequency, label, escalation, demo]")
    return rules_copy


def test_a_pack_with_only_inline_examples_loads_and_its_examples_run(demo):
    check = runner.invoke(app, ["rules", "check", str(demo)])
    assert check.exit_code == 0, check.output
    for profile in ("uk", "us"):
        result = runner.invoke(app, ["rules", "test", str(demo), "-k", "demo.", "--profile", profile])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [
            "PASSED demo.oral-in-neuropathy [inline facts, line 21 expect fire] fired (info)",
            "PASSED demo.oral-in-neuropathy [inline facts, line 26 expect quiet] quiet",
            "PASSED demo.low-hb-without-mma [inline facts, line 44 expect fire] fired (info)",
            "PASSED demo.low-hb-without-mma [inline facts, line 46 expect quiet] quiet",
            "2 rules, 4 examples: all passed"]


def test_inline_examples_gate_the_rules_at_start_and_on_reload(demo):
    runtime = RuleRuntime(demo, check_examples=True)
    assert "demo.oral-in-neuropathy" in {rule.id for rule in runtime.current.rulebook.rules()}
    assert runtime.examples.endswith("examples: all passed")
    digest = runtime.current.rulebook.digest
    edit_file(demo / "packs" / "demo.yaml", "{kind: hb, value: 90}", "{kind: hb, value: 110}")
    assert runtime.reload() is False
    assert runtime.current.rulebook.digest == digest
    [error] = runtime.last_error.errors
    assert (error.file, error.line, error.rule_id) == (str(demo / "packs" / "demo.yaml"), 44, "demo.low-hb-without-mma")
    assert "example inline facts, line 44 failed: expected fire, got quiet" in error.message
    with pytest.raises(RulebookError, match="line 44 failed"):
        RuleRuntime(demo, check_examples=True)


def test_a_failing_inline_example_is_traced_on_the_facts_it_wrote(demo):
    egfr = "{kind: egfr, value: 80}"
    edit_file(demo / "packs" / "demo.yaml", egfr, egfr + ", {kind: mma, value: 0.3}")
    result = runner.invoke(app, ["rules", "test", str(demo), "--rule", "demo.low-hb-without-mma", "--format", "json"])
    assert result.exit_code == 1
    [failed] = [example for example in json.loads(result.output)["examples"] if not example["passed"]]
    assert (failed["line"], failed["service"], failed["got"]) == (44, "b12-order-select", "quiet")
    held, absent = failed["trace"]["conditions"]
    assert held["status"] == "held" and held["facts"] == [{"id": "lab:1", "kind": "hb", "value": 90}]
    assert absent["status"] == "failed" and absent["facts"] == [{"id": "lab:3", "kind": "mma"}]   # not the Hb, eGFR


@pytest.mark.parametrize(("old", "new", "message"), [
    ("patient: {neuro_findings: true, neuro_text: paraesthesia}", "patient: {neuro_finding: true}",
     "'patient' facts have no field 'neuro_finding' (hint: did you mean 'neuro_findings'?)"),
    ("patient: {neuro_findings: true, neuro_text: paraesthesia}", 'patient: {neuro_findings: "yes"}',
     "'patient.neuro_findings' is yes/no, not 'yes' (hint: write true or false (no quotes))"),
    ("draft_order: {route: oral, antidote: false, dose_text: 1 mg}", "draft_order: {route: by mouth}",
     "'draft_order.route' is never 'by mouth'"),
    ("{kind: egfr, value: 80}", "{kind: gfr, value: 80}", "'lab.kind' is never 'gfr' (hint: did you mean 'egfr'?)"),
    ("      - facts: {lab: [{kind: hb, value: 120}",
     "      - service: b12-order-sing\n        facts: {lab: [{kind: hb, value: 120}",
     "example names no service 'b12-order-sing' (hint: did you mean 'b12-order-sign'?)"),
])
def test_a_mistake_in_inline_facts_is_a_load_error_at_its_line(demo, old, new, message):
    pack = demo / "packs" / "demo.yaml"
    edit_file(pack, old, new)
    with pytest.raises(RulebookError) as raised:
        load_rulebook(demo)
    [error] = raised.value.errors
    line = next(number for number, text in enumerate(pack.read_text().splitlines(), 1) if new.split("\n")[0] in text)
    assert error.file == str(pack) and line - 1 <= error.line <= line, (error, line)
    assert message in str(error)
