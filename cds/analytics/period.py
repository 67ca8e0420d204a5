"""An AnalyticsQuery from the API's query string or the export's options (ISO dates or date-times)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from cds.analytics.figures import AnalyticsQuery
from cds.store.tables import as_utc

DEFAULT_DAYS = 30
MAX_DAYS = 400      # the card log's default retention: a longer period would only scan more of it


class BadQuery(ValueError):
    """A parameter that does not make a query; `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def analytics_query(since: str | None = None, until: str | None = None, service: str | None = None,
                    pack_version: str | None = None, now: datetime | None = None) -> AnalyticsQuery:
    """Cards issued from `since` (default: DEFAULT_DAYS before `until`) to `until` (default: now).
    A date alone means its midnight (UTC) for `since` and the end of that day for `until`, so
    `since=2026-11-01&until=2026-11-30` is all of November; a time without offset is UTC."""
    end = _moment("until", until, end_of_day=True) if until else as_utc(now or datetime.now(UTC))
    try:
        start = _moment("since", since, end_of_day=False) if since else end - timedelta(days=DEFAULT_DAYS)
    except OverflowError:
        raise BadQuery("until", "too early for a default since: give since") from None
    if start >= end:
        raise BadQuery("since", f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    if end - start > timedelta(days=MAX_DAYS):
        raise BadQuery("since", f"the period is at most {MAX_DAYS} days")
    for field, value in (("service", service), ("pack_version", pack_version)):
        if value and not value.isprintable():   # a NUL reaches PostgreSQL as an error, not as "no such value"
            raise BadQuery(field, "must be printable text")
    return AnalyticsQuery(since=start, until=end, service=service or None, pack_version=pack_version or None)


def _moment(field: str, text: str, end_of_day: bool) -> datetime:
    try:
        day: date | None = date.fromisoformat(text)
    except ValueError:
        day = None
    try:
        return as_utc(datetime.fromisoformat(text)) if day is None else datetime.combine(
            day + timedelta(days=end_of_day), time(), UTC)
    except (ValueError, OverflowError):
        raise BadQuery(field, f"{text!r} is not an ISO date (2026-11-30) or date-time (2026-11-30T08:00:00Z) "
                              "in range") from None
