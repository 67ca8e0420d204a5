"""The figures of the analytics API, page and export: one shape for all three."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from cds.analytics.alarms import Status


@dataclass(frozen=True)
class AnalyticsQuery:
    """Cards issued in [since, until), optionally of one service and one pack version."""

    since: datetime
    until: datetime
    service: str | None = None
    pack_version: str | None = None


@dataclass(frozen=True)
class ReasonCount:
    code: str
    display: str | None
    count: int
    system: str | None = None              # the override reason's coding system


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class Alarm:
    """A live rule whose daily firing is out of its control limits on the day judged (cds.analytics.alarms):
    since when, how many cards against how many expected, and the rule versions in force before (on its
    baseline's days) and after (on the flagged days), each list empty when they did not change."""

    status: Status
    since: date
    as_of: date
    cards: int
    expected: float
    p_value: float
    baseline_first: date
    baseline_last: date
    pack_versions_before: list[str]
    pack_versions_after: list[str]
    profiles_before: list[str]
    profiles_after: list[str]
    rules_digests_before: list[str]
    rules_digests_after: list[str]
    summary: str


@dataclass(frozen=True)
class RuleFigures:
    """One rule's cards in the period: `fired` and `patients` count the cards shown (the rule live), the
    silent_ ones those logged while it was silent. Rates are shares of the cards fired (None when none
    fired); cards without feedback count as neither accepted nor overridden."""

    rule_id: str
    fired: int
    patients: int                          # distinct keyed patient hashes
    accepted: int
    overridden: int
    accept_rate: float | None
    override_rate: float | None
    top_override_reasons: list[ReasonCount]
    median_seconds_to_feedback: float | None
    firing_by_day: list[DayCount]
    silent_fired: int = 0                  # cards of the rule while silent: would have fired
    silent_patients: int = 0
    alarm: Alarm | None = None             # its firing alarm as of the period's last whole day
    alarm_judged: bool | None = None       # its firing could be judged then (False: too rare or too new; None: not
                                           # live that day, so not watched)


@dataclass(frozen=True)
class AnalyticsReport:
    query: AnalyticsQuery
    rules: list[RuleFigures]
    alarms_as_of: date | None = None       # the day the alarms judged (None: not judged)


