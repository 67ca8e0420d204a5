"""The monitor's own rhythm in a real app over a real store: a whole past day is judged once (the worker's calls
do not share their CPU with it every few minutes), and again at once when the rules are reloaded."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cds.api import create_app
from cds.runtime import RuleRuntime
from tests.conftest import edit_file, settings_for
from tests.live import wait_until


def test_a_day_is_judged_once_and_again_after_a_reload(tmp_path, rules_copy, monkeypatch):
    runtime = RuleRuntime(rules_copy)
    app = create_app(settings_for(tmp_path, alarm_interval_s=0.02), runtime)
    monitor, checks, looks = app.state.monitor, [], []
    judge, pause = monitor.check, monitor._wake.wait
    monkeypatch.setattr(monitor, "check", lambda: checks.append(judge()))
    monkeypatch.setattr(monitor._wake, "wait", lambda timeout: looks.append(timeout) or pause(timeout))
    with TestClient(app):
        wait_until(lambda: len(looks) >= 10, "the monitor looking for a new day ten times")
        assert len(checks) == 1                                   # the start's check only
        edit_file(rules_copy / "packs" / "units.yaml", 'version: "2026-12-06"', 'version: "2026-12-07"')
        assert runtime.reload()
        wait_until(lambda: len(checks) == 2, "a check after the reload")
        seen = len(looks)
        wait_until(lambda: len(looks) >= seen + 10, "ten more looks")
        assert len(checks) == 2
