"""The figures of the analytics API, page and export: one shape for all three."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


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
class RuleFigures:
    """One rule's cards in the period. Rates are shares of the cards fired (None when none fired);
    cards without feedback count as neither accepted nor overridden."""

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


@dataclass(frozen=True)
class AnalyticsReport:
    query: AnalyticsQuery
    rules: list[RuleFigures]


