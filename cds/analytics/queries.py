"""The analytics figures from the hourly tally (cds.store.tally; SQLAlchemy Core, SQLite and PostgreSQL).

The cards are those issued in the query's period (and service, pack version), and their feedback is
that the store counted on them (feedback joins its card by uuid and service, whenever it came). A card
with feedback of both outcomes counts as accepted and as overridden. The period's whole hours are read
from the tally, its partial first and last hours from the card log and feedback themselves, both
tallied the same way, so every figure is exact for any period. Cards of silent rules are counted apart
(silent_fired, silent_patients).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, Text, cast, func, or_, select

from cds.analytics.figures import AnalyticsQuery, AnalyticsReport, DayCount, ReasonCount, RuleFigures
from cds.rulebook.versions import like_patterns
from cds.store import tally
from cds.store.database import READ_ONLY
from cds.store.tables import as_utc, card_hours, hour_of, issued_cards
from cds.store.tally import Totals

TOP_REASONS = 5
HOUR = timedelta(hours=1)
ROWS_PER_FETCH = 1_000


def build_report(engine: Engine, query: AnalyticsQuery) -> AnalyticsReport:
    """Per rule that fired in the period (shown, or logged while silent): the figures of RuleFigures, most
    fired first."""
    totals: defaultdict[tuple[str, bool], Totals] = defaultdict(Totals)
    days: defaultdict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:  # one snapshot, writers go on
        for rule_id, silent, day, *stored in _tallies(connection, query):
            totals[rule_id, bool(silent)].add(*stored)
            if not silent:
                days[rule_id][str(day)] += stored[0]
    rules = {rule_id for (rule_id, _), counted in totals.items() if counted.cards}
    figures = [_figures(rule_id, totals[rule_id, False], totals[rule_id, True], days[rule_id]) for rule_id in rules]
    return AnalyticsReport(query, sorted(figures, key=lambda rule: (-rule.fired, rule.rule_id)))


def _tallies(connection: Connection, query: AnalyticsQuery) -> Iterator[Any]:
    """The period's tallies as (rule, silent, UTC day, *Totals.add's arguments): its whole hours from the
    stored tally (streamed: the rows never pile up for the garbage collector to walk while calls wait), its
    partial first and last hours tallied here from the card log and its feedback."""
    start, end = as_utc(query.since), as_utc(query.until)
    first_whole = hour_of(start) if start == hour_of(start) else hour_of(start) + HOUR
    last_whole = hour_of(end)
    edges = [(start, end)] if first_whole >= last_whole else [(start, first_whole), (last_whole, end)]
    if first_whole < last_whole:
        hours = card_hours.c
        yield from connection.execute(
            select(hours.rule_id, hours.silent, utc_day(hours.hour, connection.dialect.name), hours.cards,
                   hours.patients, hours.accepted, hours.overridden, cast(hours.reasons, Text), hours.delays)
            .where(*_card_conditions(card_hours, hours.hour, query, first_whole, last_whole))
            .execution_options(yield_per=ROWS_PER_FETCH))
    for since, until in edges:
        if since < until:
            cards = _card_conditions(issued_cards, issued_cards.c.issued_at, query, since, until)
            logged = connection.execute(select(*tally.CARD_COLUMNS).where(*cards)).mappings()
            answered = connection.execute(tally.answered_cards(*cards)).mappings()
            for (hour, _, rule_id, _, silent), counted in [*tally.card_tallies(logged).items(),
                                                            *tally.answered_tallies(list(answered)).items()]:
                yield rule_id, silent, hour.date(), *counted.as_added()


def _card_conditions(table: Table, moment: Any, query: AnalyticsQuery, since: datetime | None = None,
                     until: datetime | None = None) -> list[ColumnElement[bool]]:
    """The query's filters on the card log or its tally: the period (or [since, until) within it),
    the service and the pack version (cds.rulebook.versions: a declared version selects every content of it)."""
    conditions = [moment >= as_utc(since or query.since), moment < as_utc(until or query.until)]
    if query.service is not None:
        conditions.append(table.c.service_id == query.service)
    if query.pack_version is not None:
        version = table.c.pack_version
        conditions.append(or_(version == query.pack_version,
                              *(version.like(pattern, escape="\\") for pattern in like_patterns(query.pack_version))))
    return conditions


def utc_day(moment: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a stored time (SQLite keeps UTC times without offset)."""
    return func.date(func.timezone("UTC", moment)) if dialect == "postgresql" else func.date(moment)


def _figures(rule_id: str, shown: Totals, silent: Totals, days: Counter[str]) -> RuleFigures:
    """One rule's figures from the totals of its cards shown and logged silent (feedback counts on both),
    and its cards shown by UTC day."""
    answered = Totals()
    for part in (shown, silent):
        answered.merge(part)
    top = sorted((ReasonCount(code, display, count, system) for system, code, count, display in answered.reasons()),
                 key=lambda reason: (-reason.count, reason.code))
    median = answered.median_seconds()
    return RuleFigures(
        rule_id=rule_id, fired=shown.cards, patients=shown.patients(), accepted=answered.accepted,
        overridden=answered.overridden, accept_rate=answered.accepted / shown.cards if shown.cards else None,
        override_rate=answered.overridden / shown.cards if shown.cards else None,
        top_override_reasons=top[:TOP_REASONS],
        median_seconds_to_feedback=None if median is None else round(median, 3),
        firing_by_day=[DayCount(date.fromisoformat(day), count) for day, count in sorted(days.items()) if count],
        silent_fired=silent.cards, silent_patients=silent.patients())
