"""One settings table: every CDS_* setting is defined once (cds.config.Settings, with its meaning),
and the README's table, `cds config` and `cds serve --help` are made from that definition."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from cds import PROJECT_ROOT
from cds.cli import SERVE_FLAGS, app
from cds.config import Settings, settings_table, shown_default

runner = CliRunner()
START, END = "<!-- settings table: cds config --table -->\n", "<!-- end of settings table -->"


def test_the_readme_table_is_the_generated_one():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert START in readme and END in readme
    in_readme = readme.split(START, 1)[1].split(END, 1)[0]
    assert in_readme == settings_table(SERVE_FLAGS), "run `cds config --table` and paste it into README.md"


def test_every_setting_has_a_meaning_and_every_flag_a_setting():
    assert all(field.description for field in Settings.model_fields.values())
    assert set(SERVE_FLAGS) <= set(Settings.model_fields)
    table = settings_table(SERVE_FLAGS)
    assert len(table.splitlines()) == len(Settings.model_fields) + 2


def test_config_prints_each_value_and_where_it_came_from(monkeypatch):
    monkeypatch.setenv("CDS_PORT", "9191")
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds:s3cret@db.example:5432/cds")
    monkeypatch.setenv("CDS_PATIENT_HASH_KEY", "hush-hush")
    monkeypatch.delenv("CDS_WORKERS", raising=False)
    result = runner.invoke(app, ["config", "--workers", "3", "--port", "9292"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert rows["CDS_WORKERS"][1:] == ["3", "flag"]
    assert rows["CDS_PORT"][1:] == ["9292", "flag"]                  # a flag wins over the environment
    assert rows["CDS_DEADLINE_S"][1:] == ["1.5", "default"]
    assert rows["CDS_DATABASE_URL"][-1] == "env" and "s3cret" not in result.output and "***" in result.output
    assert "hush-hush" not in result.output and rows["CDS_PATIENT_HASH_KEY"][-1] == "env"
    assert set(rows) == {f"CDS_{name.upper()}" for name in Settings.model_fields}


def test_config_refuses_a_bad_value_naming_the_setting():
    result = runner.invoke(app, ["config", "--log-level", "loud"])
    assert result.exit_code == 2 and "setting log_level" in result.output


def test_serve_help_shows_each_flag_its_variable_and_default():
    result = runner.invoke(app, ["serve", "--help"], terminal_width=400, env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", result.output))
    for name, flag in SERVE_FLAGS.items():
        default = shown_default(Settings.model_fields[name].default)
        assert re.search(rf"{flag} .*?\(env CDS_{name.upper()}\) \[default: \(?{re.escape(default)}\)?\]", text), flag
