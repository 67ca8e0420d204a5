"""Rules that fail their own examples do not load, at start or on reload, unless examples are skipped."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from cds.cli import app
from cds.rulebook import RulebookError, load_rulebook
from cds.runtime import RuleRuntime
from tests.conftest import edit_file

QUIET = "      - fixture: fhir_fixtures/requests/label-ampoule-quiet.json\n        expect: quiet"
QUIET_EXPECTED = (QUIET, QUIET + "\n" + QUIET.replace("expect: quiet", "expect: fire"))   # one example more, failing


def test_a_reload_failing_an_example_keeps_the_old_rules_and_logs_the_example(rules_copy, caplog):
    runtime = RuleRuntime(rules_copy, check_examples=True)
    digest = runtime.current.rulebook.digest
    edit_file(rules_copy / "packs" / "units.yaml", *QUIET_EXPECTED)
    with caplog.at_level(logging.ERROR, logger="cds.runtime"):
        assert runtime.reload() is False
    assert runtime.current.rulebook.digest == digest
    [error] = runtime.last_error.errors
    lines = (rules_copy / "packs" / "units.yaml").read_text().splitlines()
    example = next(n for n, line in enumerate(lines, 1) if "label-ampoule-quiet.json" in line
                   and "expect: fire" in lines[n])
    assert (error.rule_id, error.line) == ("units.volume-exceeds-dose", example)
    assert error.message == ("example fhir_fixtures/requests/label-ampoule-quiet.json failed: "
                             "expected fire, got quiet")
    assert "[units.volume-exceeds-dose]: example fhir_fixtures/requests/label-ampoule-quiet.json" in caplog.text


def test_without_example_checks_the_same_reload_goes_live(rules_copy):
    runtime = RuleRuntime(rules_copy)
    edit_file(rules_copy / "packs" / "units.yaml", *QUIET_EXPECTED)
    assert runtime.reload() is True and runtime.last_error is None


def test_rules_failing_their_examples_do_not_start(rules_copy):
    edit_file(rules_copy / "packs" / "units.yaml", *QUIET_EXPECTED)
    with pytest.raises(RulebookError, match="label-ampoule-quiet.json failed: expected fire, got quiet"):
        RuleRuntime(rules_copy, check_examples=True)
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--rules", str(rules_copy)])
    assert result.exit_code == 2 and "label-ampoule-quiet.json failed" in result.output


def test_a_worker_trusts_examples_run_on_the_same_rules_only(rules_copy):
    """`cds serve --workers N` runs the examples once; a worker reruns them if the rules changed since."""
    vetted = load_rulebook(rules_copy).digest
    edit_file(rules_copy / "packs" / "units.yaml", *QUIET_EXPECTED)
    with pytest.raises(RulebookError, match="label-ampoule-quiet.json failed"):
        RuleRuntime(rules_copy, check_examples=True, vetted_digest=vetted)
    edited = load_rulebook(rules_copy).digest
    assert RuleRuntime(rules_copy, check_examples=True, vetted_digest=edited).current.rulebook.digest == edited
