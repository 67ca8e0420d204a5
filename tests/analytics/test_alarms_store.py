"""Firing alarms over a simulated 60-day card log in the real store (SQLite and PostgreSQL), read through the
analytics API, `cds analytics export`, /metrics and the console.

The log ends yesterday. On day 45 an edit to the units pack (a threshold raised a thousandfold) goes live and
units.mg-mcg-confusion stops firing; escalation.duplicate-draft fires on, with Poisson noise alone. The service
noted the rules in force each day, as its monitor does; route.cyanocobalamin-iv fires a card every few days,
too rarely to be judged. The stop must be flagged within 3 days, naming the
pack versions before and after; the noisy rule must not be flagged (its seed is arbitrary: the false-alarm rate
over many seeds is measured in test_alarms.py).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cds.analytics.alarms import AlarmSettings
from cds.analytics.monitor import AlarmMonitor
from cds.api import create_app
from cds.cli import app as cli
from cds.config import Settings
from cds.rulebook import load_rulebook
from cds.rulebook.model import Rulebook
from cds.runtime import RuleRuntime
from cds.store.cardlog import card_rows
from tests.conftest import edit_file, sample, settings_for
from tests.firing import firing_log

STOPPED, STEADY, RARE = "units.mg-mcg-confusion", "escalation.duplicate-draft", "route.cyanocobalamin-iv"
RATE, STOP_DAY, DAYS = 12, 45, 60
FIRST = datetime.now(UTC).date() - timedelta(days=DAYS)     # day 1; day 60 is yesterday
API = "/analytics/api/rules"
runner = CliRunner()


def day(number: int) -> date:
    return FIRST + timedelta(days=number - 1)


@dataclass
class History:
    client: TestClient
    settings: Settings
    before: Rulebook
    after: Rulebook


def _cards(rule_id: str, pack_version: str, on: date, count: int) -> list[dict]:
    """`count` card-log rows of a rule on a day, at spread hours, each for a patient of its own."""
    rows = []
    for n in range(count):
        card = {"uuid": f"{rule_id}-{on.isoformat()}-{n}", "indicator": "warning",
                "source": {"topic": {"code": rule_id}}, "extension": {"cobalt-cds": {"packVersion": pack_version}}}
        issued = datetime.combine(on, time(n % 24, n % 60), UTC)
        rows += card_rows("b12-order-sign", f"hook-{on}-{n}", f"{n:064x}", [card], issued)
    return rows


@pytest.fixture
def history(tmp_path: Path, database_url: str, runtime: RuleRuntime, rules_copy: Path) -> History:
    edit_file(rules_copy / "packs" / "units.yaml", "{value: 5000, unit: mcg", "{value: 5000000, unit: mcg")
    before, after = runtime.current.rulebook, load_rulebook(rules_copy)
    settings = settings_for(tmp_path, database_url=database_url)
    client = TestClient(create_app(settings, runtime))      # not started: no monitor thread of its own
    store = client.app.state.feedback
    in_force: list[Rulebook] = []
    monitor = AlarmMonitor(store, lambda: in_force[-1], AlarmSettings.of(settings), 300)
    stopped = firing_log(1, FIRST, DAYS, RATE, stop_day=STOP_DAY)
    steady, rare = firing_log(2, FIRST, DAYS, RATE), firing_log(3, FIRST, DAYS, 0.3)
    rows = []
    for number in range(1, DAYS + 1):
        in_force.append(before if number < STOP_DAY else after)
        monitor.note(day(number))
        rows += _cards(STOPPED, in_force[-1].rule(STOPPED).pack_version, day(number), stopped[day(number)])
        rows += _cards(STEADY, before.rule(STEADY).pack_version, day(number), steady[day(number)])
        rows += _cards(RARE, before.rule(RARE).pack_version, day(number), rare[day(number)])
    store.log_cards(rows)
    return History(client, settings, before, after)


def _rules(client: TestClient, until: int) -> dict[str, dict]:
    response = client.get(API, params={"since": day(1).isoformat(), "until": day(until).isoformat()})
    assert response.status_code == 200, response.text
    return {rule["rule_id"]: rule for rule in response.json()["rules"]}


def _alarms(client: TestClient, until: int) -> dict[str, dict | None]:
    return {rule_id: rule["alarm"] for rule_id, rule in _rules(client, until).items()}


def test_the_stop_is_flagged_within_3_days_naming_the_versions_before_and_after(history):
    assert _alarms(history.client, STOP_DAY - 1) == {STOPPED: None, STEADY: None, RARE: None}
    assert {rule_id: rule["alarm_judged"] for rule_id, rule in _rules(history.client, STOP_DAY - 1).items()} == \
           {STOPPED: True, STEADY: True, RARE: False}        # unknown is unknown: too rare to judge, not "fine"
    first = next(n for n in range(STOP_DAY, DAYS + 1) if _alarms(history.client, n)[STOPPED])
    assert first - STOP_DAY + 1 <= 3
    alarms = _alarms(history.client, STOP_DAY + 2)
    assert alarms[STEADY] is None
    alarm = alarms[STOPPED]
    assert (alarm["status"], alarm["since"], alarm["as_of"], alarm["cards"]) == \
           ("stopped", day(STOP_DAY).isoformat(), day(STOP_DAY + 2).isoformat(), 0)
    assert alarm["expected"] > 2 * RATE and alarm["p_value"] < 1e-5
    assert alarm["pack_versions_before"] == [history.before.rule(STOPPED).pack_version]
    assert alarm["pack_versions_after"] == [history.after.rule(STOPPED).pack_version]
    assert alarm["profiles_before"] == alarm["profiles_after"] == []            # the profile did not change
    assert (alarm["baseline_first"], alarm["baseline_last"]) == (day(STOP_DAY - 28).isoformat(),
                                                                 day(STOP_DAY - 1).isoformat())
    assert f"Pack version {history.before.rule(STOPPED).pack_version} → " in alarm["summary"]
    latest = _alarms(history.client, DAYS)       # a rule that stopped is listed though it gave no card
    assert latest[STOPPED]["status"] == "stopped" and latest[STEADY] is None


def test_a_page_filtered_by_service_lists_a_stopped_rule_only_where_it_could_have_fired(history):
    def listed(service: str) -> dict[str, str | None]:
        response = history.client.get(API, params={"since": day(STOP_DAY).isoformat(),
                                                   "until": day(DAYS).isoformat(), "service": service})
        assert response.status_code == 200, response.text
        return {rule["rule_id"]: (rule["alarm"] or {}).get("status") for rule in response.json()["rules"]}

    assert listed("b12-order-sign")[STOPPED] == "stopped"
    assert STOPPED not in listed("b12-patient-view")      # runs the units pack, but the rule is for order hooks
    assert listed("b12-patient-view") == {}               # and nothing else was logged for it


def test_the_export_defaults_to_the_consoles_period_and_carries_the_alarms(history):
    env = {"CDS_DATABASE_URL": history.settings.feedback_url(), "CDS_DATA_DIR": str(history.settings.data_dir)}
    exported = runner.invoke(cli, ["analytics", "export"], env=env)
    assert exported.exit_code == 0, exported.output
    report, answered = json.loads(exported.stdout), history.client.get(API).json()
    assert report["rules"] == answered["rules"] and report["alarms_as_of"] == answered["alarms_as_of"]
    until = datetime.fromisoformat(report["query"]["until"])
    assert until - datetime.fromisoformat(report["query"]["since"]) == timedelta(days=30)
    assert abs(until - datetime.fromisoformat(answered["query"]["until"])) < timedelta(minutes=5)
    assert {rule["rule_id"]: ((rule["alarm"] or {}).get("status"), rule["alarm_judged"]) for rule in report["rules"]} \
           == {STOPPED: ("stopped", True), STEADY: (None, True), RARE: (None, False)}
    table = runner.invoke(cli, ["analytics", "export", "--until", day(STOP_DAY + 2).isoformat(), "--format", "csv"],
                          env=env)
    rows = {row["rule_id"]: row for row in csv.DictReader(io.StringIO(table.stdout))}
    assert (rows[STOPPED]["alarm"], rows[STOPPED]["alarm_since"]) == ("stopped", day(STOP_DAY).isoformat())
    assert rows[STOPPED]["alarm_summary"].startswith(f"Stopped since {day(STOP_DAY).isoformat()}: 0 cards in 3 days")
    assert (rows[STEADY]["alarm"], rows[STEADY]["alarm_judged"]) == ("", "True") and rows[STEADY]["fired"] == str(sum(
        firing_log(2, FIRST, DAYS, RATE)[day(n)] for n in range(STOP_DAY + 3 - 30, STOP_DAY + 3)))   # 30 days


def test_metrics_gauge_each_live_rule(history):
    monitor = history.client.app.state.monitor
    monitor.check(datetime.combine(day(STOP_DAY + 3), time(1), UTC))      # judges day 47
    text = history.client.get("/metrics").text
    assert f'cds_rule_firing_anomaly{{rule="{STOPPED}"}} 1.0' in text
    assert f'cds_rule_firing_anomaly{{rule="{STEADY}"}} 0.0' in text
    assert sample("cds_rule_firing_anomaly", {"rule": RARE}) == 0      # too rare to judge: never flagged
    monitor.check(datetime.combine(day(STOP_DAY), time(1), UTC))          # judges day 44: before the stop
    assert sample("cds_rule_firing_anomaly", {"rule": STOPPED}) == 0


def test_the_console_shows_the_badge_and_the_chart_with_its_limits(history):
    period = {"since": day(1).isoformat(), "until": day(STOP_DAY + 2).isoformat()}
    html = history.client.get("/analytics", params=period).text
    assert f'data-alarm-rule="{STOPPED}"' in html and f'data-alarm-rule="{STEADY}"' not in html
    assert 'data-alarm="stopped"' in html and 'data-total="alarms">1<' in html
    page = history.client.get(f"/analytics/rules/{STOPPED}", params=period).text
    chart = page[page.index('<svg class="chart control"'):]
    chart = chart[:chart.index("</svg>")]
    assert chart.count('class="limits"') == STOP_DAY + 2 - 28      # a band on each judged day
    flagged = [title for title in chart.split("<title>") if "out of control" in title]
    assert [title.split(":")[0] for title in flagged] == [day(n).isoformat() for n in range(STOP_DAY, STOP_DAY + 3)]
    assert all(": 0 cards (expected " in title and "out of control (drop)" in title for title in flagged)
    assert history.before.rule(STOPPED).pack_version in page and history.after.rule(STOPPED).pack_version in page
    quiet = history.client.get(f"/analytics/rules/{STEADY}", params=period).text
    assert "out of control (" not in quiet and 'data-alarm="' not in quiet
