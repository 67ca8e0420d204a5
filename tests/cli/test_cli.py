"""The `cds` command line over the bundled rules and fixtures."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from cds import BUNDLED_RULES, PROJECT_ROOT
from cds.cli import app
from cds.rulebook import load_rulebook
from tests.conftest import edit_file

runner = CliRunner()


def test_rules_check_ok_and_error(rules_copy):
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0 and "ok:" in result.output
    broken = rules_copy
    pack = broken / "packs" / "units.yaml"
    pack.write_text(pack.read_text().replace("dose_kind: mass", "dose_knd: mass"))
    result = runner.invoke(app, ["rules", "check", str(broken)])
    assert result.exit_code == 1
    assert "units.yaml:" in result.output and "[units.mg-mcg-confusion]" in result.output


def test_rules_list_in_columns_as_wide_as_their_content():
    result = runner.invoke(app, ["rules", "list"])
    assert result.exit_code == 0
    header, *lines = result.output.splitlines()
    starts = [header.index(name) for name in ("MODE", "INDICATOR", "HOOKS", "TITLE")]
    rules = load_rulebook(BUNDLED_RULES).rules()
    assert len(lines) == len(rules)
    for line, rule in zip(lines, rules, strict=True):
        assert all(line[start - 2:start] == "  " and line[start] != " " for start in starts), line
        cells = [line[a:b].strip() for a, b in zip([0, *starts], [*starts, None], strict=True)]
        assert cells == [rule.id, rule.mode, rule.indicator, ",".join(rule.hooks), rule.title]
    assert starts[0] == max(len(rule.id) for rule in rules) + 2


def test_rules_test_runs_every_example():
    result = runner.invoke(app, ["rules", "test"])
    assert result.exit_code == 0, result.output
    assert "FAILED" not in result.output
    assert result.output.endswith(" examples: all passed\n")


def test_rules_explain_shows_held_and_failed_conditions():
    fixture = PROJECT_ROOT / "fhir_fixtures" / "requests" / "neuro-loading-draft.json"
    result = runner.invoke(app, ["rules", "explain", str(fixture), "--service", "b12-order-sign"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("quiet  deficiency.neuro-maintenance-not-parenteral")
    block = "\n".join(lines[start:start + 5])
    assert "held" in block and "failed" in block and '"route": "im"' in block


def test_rules_explain_marks_fired_rule():
    fixture = PROJECT_ROOT / "fhir_fixtures" / "requests" / "unit-error-1000mg.json"
    result = runner.invoke(app, ["rules", "explain", str(fixture), "--service", "b12-label-check"])
    assert "FIRED  units.mg-mcg-confusion" in result.output


def test_fixtures_render_merges_patient_and_shifts_dates():
    fixture = PROJECT_ROOT / "fhir_fixtures" / "services" / "b12-order-sign.json"
    result = runner.invoke(app, ["fixtures", "render", str(fixture)])
    request = json.loads(result.output)
    assert "x-cobalt-fixture" not in request
    assert set(request["prefetch"]) == {"patient", "observations", "medications", "conditions", "procedures",
                                        "allergies"}


def test_serve_with_unusable_feedback_store_exits_with_a_clear_error(tmp_path):
    url = f"postgresql+psycopg://cds:secret@/cds?host={tmp_path / 'no-server'}"
    result = runner.invoke(app, ["serve", "--port", "0"], env={"CDS_DATABASE_URL": url})
    assert result.exit_code == 2
    assert "feedback store postgresql+psycopg://cds:***@" in result.output and "is unusable" in result.output
    assert "secret" not in result.output


def test_serve_with_an_unusable_data_directory_exits_with_a_clear_error(tmp_path):
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    result = runner.invoke(app, ["serve", "--port", "0"], env={"CDS_DATA_DIR": str(not_a_directory / "data")})
    assert result.exit_code == 2
    assert f"data directory {not_a_directory / 'data'} is unusable" in result.output
    assert "Traceback" not in result.output


def test_rules_test_on_a_copied_rules_directory_finds_the_projects_fixtures(tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(BUNDLED_RULES, copy)
    result = runner.invoke(app, ["rules", "test", str(copy)])
    assert result.exit_code == 0 and result.output.endswith(" examples: all passed\n"), result.output


def test_rule_examples_never_depend_on_the_call_deadline():
    # A service whose deadline has always passed stands for a machine too busy to meet it: the examples
    # still judge the rules, not the clock (CI once failed an example on a loaded 2-core machine).
    result = runner.invoke(app, ["rules", "test", "-k", "cyano"], env={"CDS_DEADLINE_S": "0"})
    assert result.exit_code == 0 and result.output.endswith(" examples: all passed\n"), result.output
    assert "service.incomplete" not in result.output


def test_a_rule_test_on_a_service_that_does_not_run_the_rule_fails(rules_copy):
    quiet = "      - fixture: fhir_fixtures/requests/label-cyano-1000mcg-monthly-quiet.json\n        expect: quiet"
    edit_file(rules_copy / "packs" / "route.yaml", quiet, quiet + "\n        service: b12-patient-view")
    result = runner.invoke(app, ["rules", "test", str(rules_copy)])
    assert result.exit_code == 1
    assert "service b12-patient-view does not run this rule" in result.output


def test_explain_an_unreadable_request_says_why_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["rules", "explain", str(bad), "--service", "b12-order-sign"])
    assert result.exit_code == 2
    assert "cannot explain" in result.output and "Traceback" not in result.output


def test_explain_shows_cases_and_parameter_values():
    patient_view = PROJECT_ROOT / "fhir_fixtures" / "services" / "b12-patient-view.json"
    result = runner.invoke(app, ["rules", "explain", str(patient_view), "--service", "b12-patient-view"])
    assert "case warning: held" in result.output
    assert '"$review_yearly_days = 365"' in result.output


def test_explain_without_service_explains_every_service_for_the_requests_hook():
    fixture = PROJECT_ROOT / "fhir_fixtures" / "requests" / "unit-error-1000mg.json"
    result = runner.invoke(app, ["rules", "explain", str(fixture)])
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("== ")]
    assert [header.split()[1] for header in headers] == ["b12-order-sign", "b12-label-check"]
    label_check = result.output.split("== b12-label-check")[1]
    assert "FIRED  units.mg-mcg-confusion" in label_check
    assert "deficiency." not in label_check and "deficiency." in result.output.split("== b12-label-check")[0]


def test_explain_without_service_on_a_hook_no_service_answers(tmp_path):
    request = tmp_path / "encounter.json"
    request.write_text(json.dumps({"hook": "encounter-start", "hookInstance": "x", "context": {}}))
    result = runner.invoke(app, ["rules", "explain", str(request)])
    assert result.exit_code == 2 and "no service answers hook 'encounter-start'" in result.output
