"""Each worker's watch over its rules: once a day (looking every `alarm_interval_s` for a new one) and at once
after a reload it notes today's rules in force in the store, judges every live rule as of yesterday and sets
the /metrics gauge cds_rule_firing_anomaly{rule} (1 flagged, 0 not). A whole past day's judgement does not
change, so the worker's calls do not share their CPU with it again until the next day. The console and the
API read its latest judgement, and the console a rule's chart with its control limits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from cds.analytics.alarms import AlarmSettings
from cds.analytics.watching import RuleWatch, watch_rules
from cds.metrics import RULE_FIRING_ANOMALY
from cds.rulebook.model import Rulebook
from cds.store.feedback import FeedbackStore

log = logging.getLogger(__name__)


class AlarmMonitor:
    def __init__(self, store: FeedbackStore, rulebook: Callable[[], Rulebook], settings: AlarmSettings,
                 interval_s: float):
        self._store = store
        self._rulebook = rulebook
        self._settings = settings
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: tuple[date, dict[str, RuleWatch]] | None = None
        self._gauged: set[str] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="alarm-monitor")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def wake(self) -> None:
        """Check now (the rules were reloaded)."""
        self._wake.set()

    def alarms(self, as_of: date) -> dict[str, RuleWatch]:
        """Every live rule judged as of `as_of`: the latest check's when it judged that day, else judged now."""
        latest = self._latest
        if latest is not None and latest[0] == as_of:
            return latest[1]
        return watch_rules(self._store.engine, as_of, self._settings)

    def chart(self, rule_id: str, first: date, last: date) -> RuleWatch | None:
        """One rule's control chart from `first` to `last`, each judged day with its limits (None: the rule has
        no live day in the history read)."""
        return watch_rules(self._store.engine, last, self._settings, first, {rule_id}, limits=True).get(rule_id)

    def note(self, day: date) -> None:
        """Note in the store the rules in force on `day` (the version of each, its mode and the rulebook's digest)."""
        rulebook = self._rulebook()
        self._store.note_rules_in_force(day, [
            {"rule_id": rule.id, "pack_version": rule.pack_version, "rules_digest": rulebook.digest, "mode": rule.mode}
            for rule in rulebook.rules()])

    def check(self, now: datetime | None = None) -> None:
        """Note today's rules in force, judge every live rule as of yesterday, set the gauge."""
        now = now or datetime.now(UTC)
        self.note(now.date())
        as_of = now.date() - timedelta(days=1)
        watched = watch_rules(self._store.engine, as_of, self._settings)
        self._latest = (as_of, watched)
        live = {rule.id for rule in self._rulebook().rules() if not rule.silent}
        for rule_id in live | self._gauged:
            found = watched.get(rule_id)
            RULE_FIRING_ANOMALY.labels(rule_id).set(int(rule_id in live and found is not None
                                                        and found.alarm is not None))
        self._gauged |= live

    def _run(self) -> None:
        judged: date | None = None   # the day the last successful check noted (its day before is judged)
        while not self._stop.is_set():
            today, reloaded = datetime.now(UTC).date(), self._wake.is_set()
            self._wake.clear()
            if reloaded or today != judged:
                try:
                    self.check()
                    judged = today
                except Exception:  # the store or its driver: the monitor lives on for the next check
                    log.exception("could not check the rules' firing for alarms")
            self._wake.wait(self._interval_s)
