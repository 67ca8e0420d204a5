"""`cds rules explain` through the real CLI: one rule with --rule, each condition with the fact values it saw
(none for a condition never reached), as text or JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cds import PROJECT_ROOT
from cds.cli import app

runner = CliRunner()
REQUESTS = PROJECT_ROOT / "fhir_fixtures" / "requests"
RULE = "escalation.increase-without-review"


def test_explain_one_rule_shows_only_its_conditions_and_the_facts_they_saw():
    result = runner.invoke(app, ["rules", "explain", str(REQUESTS / "esc-weekly-draft-reviewed.json"), "--rule", RULE])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["== b12-order-sign (order-sign): B12 injection order checks (order-sign)",
                         f"quiet  {RULE}"]
    statuses = [line.split()[0] for line in lines[2:] if line.startswith("    ") and not line.startswith("     ")]
    assert statuses == ["held", "held", "failed"]
    assert '{"id": "draft-esc-weekly-reviewed", "antidote": false, "has_reason": false, "mcg_per_28d": 4000.0, ' \
           '"parenteral": true}' in result.output
    assert sum(line.startswith(("quiet", "FIRED")) for line in lines) == 1


def test_explain_as_json_and_a_condition_not_reached_lists_no_facts():
    result = runner.invoke(app, ["rules", "explain", str(REQUESTS / "esc-new-series-loading.json"), "--rule", RULE,
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    [service] = json.loads(result.output)
    [report] = service["rules"]
    assert (service["service"], report["rule"], report["fired"]) == ("b12-order-sign", RULE, False)
    assert [c["status"] for c in report["conditions"]] == ["failed", "not reached", "not reached"]
    assert report["conditions"][0]["facts"] == [{"id": "patient:pat-esc-new-series", "injection_mcg_per_28d": 0}]
    assert [c["facts"] for c in report["conditions"][1:]] == [[], []]
    assert all(c["line"] > 1 for c in report["conditions"])


def test_explain_an_unknown_rule_names_the_closest():
    result = runner.invoke(app, ["rules", "explain", str(REQUESTS / "esc-weekly-draft.json"), "--rule",
                                 "escalation.increase-without-reveiw"])
    assert result.exit_code == 2 and f"did you mean '{RULE}'?" in result.output
