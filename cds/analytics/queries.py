"""The analytics figures from the card log and the feedback table (SQLAlchemy Core; SQLite and PostgreSQL).

The cards are those issued in the query's period (and service, pack version); their feedback is
joined by card uuid and service whenever it came, so feedback that arrived before its card was
logged still counts. A card with feedback of both outcomes counts as accepted and as overridden.
Cards fired per rule and day come from the hourly tally (card_hours) for the period's whole hours;
distinct patients from the covering index on issue time, rule, silent and patient key (the hash's first
64 bits). Cards of silent rules are counted apart (silent_fired, silent_patients).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import CTE, ColumnElement, Engine, Select, Table, and_, func, or_, select, union_all

from cds.analytics.figures import AnalyticsQuery, AnalyticsReport, DayCount, ReasonCount, RuleFigures
from cds.rulebook.versions import like_patterns
from cds.store.database import READ_ONLY
from cds.store.tables import as_utc, card_hours, feedback, hour_of, issued_cards

TOP_REASONS = 5
HOUR = timedelta(hours=1)
CLOCK_MARGIN = timedelta(days=1)


def build_report(engine: Engine, query: AnalyticsQuery) -> AnalyticsReport:
    """Per rule that fired in the period (shown, or logged while silent): the figures of RuleFigures, most
    fired first."""
    cards = _card_conditions(issued_cards, issued_cards.c.issued_at, query)
    rule, silent = issued_cards.c.rule_id, issued_cards.c.silent
    answers = _answers(query, cards)
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:  # one snapshot, writers go on
        def rows(statement: Select) -> list[Any]:
            return list(connection.execute(statement))

        days = _firing(rows, query, engine.dialect.name)
        patients = {(rule_id, bool(hidden)): count for rule_id, hidden, count in rows(
            select(rule, silent, func.count(func.distinct(issued_cards.c.patient_key)))
            .where(*cards).group_by(rule, silent))}
        outcomes = {(r, outcome): count for r, outcome, count in rows(
            select(answers.c.rule_id, answers.c.outcome, func.count(func.distinct(answers.c.card_uuid)))
            .group_by(answers.c.rule_id, answers.c.outcome))}
        reasons = _by_rule(rows(
            select(answers.c.rule_id, answers.c.override_system, answers.c.override_code,
                   func.max(answers.c.override_display), func.count())
            .where(answers.c.outcome == "overridden", answers.c.override_code.is_not(None))
            .group_by(answers.c.rule_id, answers.c.override_system, answers.c.override_code)))
        medians = dict(rows(_median_delays(answers, engine.dialect.name)))
    shown = {rule_id: days.get((rule_id, False), []) for rule_id, _ in days}
    hidden = {rule_id: days.get((rule_id, True), []) for rule_id in shown}
    fired = {rule_id: sum(count for _, count in counted) for rule_id, counted in shown.items()}
    return AnalyticsReport(query, [
        replace(_figures(rule_id, fired[rule_id], patients.get((rule_id, False), 0),
                         outcomes.get((rule_id, "accepted"), 0), outcomes.get((rule_id, "overridden"), 0),
                         reasons[rule_id], sorted(shown[rule_id]), medians.get(rule_id)),
                silent_fired=sum(count for _, count in hidden[rule_id]),
                silent_patients=patients.get((rule_id, True), 0))
        for rule_id in sorted(fired, key=lambda rule_id: (-fired[rule_id], rule_id))])


def _answers(query: AnalyticsQuery, cards: list[ColumnElement[bool]]) -> CTE:
    """Each feedback item on a card of the query, with its card: rule, card, issued, outcome, override
    coding, outcome time. Feedback stored after its card was logged carries the card's rule and issue
    time and is read alone, through its index; the rest (the card was logged after its feedback) is
    matched to its card, reading only feedback received since the period began (feedback comes after
    its card was issued; less a margin for the clocks of several replicas)."""
    known = (select(feedback.c.rule_id, feedback.c.card_uuid, feedback.c.card_issued_at.label("issued_at"),
                    feedback.c.outcome, feedback.c.override_system, feedback.c.override_code,
                    feedback.c.override_display, feedback.c.outcome_at)
             .where(*_card_conditions(feedback, feedback.c.card_issued_at, query)))
    later = (select(issued_cards.c.rule_id, issued_cards.c.card_uuid, issued_cards.c.issued_at, feedback.c.outcome,
                    feedback.c.override_system, feedback.c.override_code, feedback.c.override_display,
                    feedback.c.outcome_at)
             .select_from(feedback.join(issued_cards, and_(issued_cards.c.card_uuid == feedback.c.card_uuid,
                                                           issued_cards.c.service_id == feedback.c.service_id)))
             .where(feedback.c.card_issued_at.is_(None),
                    feedback.c.received_at >= as_utc(query.since) - CLOCK_MARGIN, *cards))
    return union_all(known, later).cte("answers")


def _median_delays(answers: CTE, dialect: str) -> Select:
    """Per rule, the median seconds from a card's issue to its first feedback's outcome time (to the
    millisecond), computed in the database: per card, then ranked within its rule."""
    first = func.min(answers.c.outcome_at)
    seconds = (func.extract("epoch", first - answers.c.issued_at) if dialect == "postgresql"
               else (func.julianday(first) - func.julianday(answers.c.issued_at)) * 86400.0)
    per_card = (select(answers.c.rule_id, seconds.label("seconds")).where(answers.c.outcome_at.is_not(None))
                .group_by(answers.c.rule_id, answers.c.card_uuid, answers.c.issued_at).subquery())
    ranked = select(per_card.c.rule_id, per_card.c.seconds,
                    func.row_number().over(partition_by=per_card.c.rule_id, order_by=per_card.c.seconds).label("n"),
                    func.count().over(partition_by=per_card.c.rule_id).label("total")).subquery()
    middle = ranked.c.n.in_([(ranked.c.total + 1) // 2, (ranked.c.total + 2) // 2])
    return select(ranked.c.rule_id, func.avg(ranked.c.seconds)).where(middle).group_by(ranked.c.rule_id)


def _by_rule(rows: list[Any]) -> defaultdict[str, list[tuple[Any, ...]]]:
    """Rows whose first column is the rule id, by rule (the rest of each row)."""
    grouped: defaultdict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for rule_id, *rest in rows:
        grouped[rule_id].append(tuple(rest))
    return grouped


def _firing(rows: Callable[[Select], list[Any]], query: AnalyticsQuery,
            dialect: str) -> defaultdict[tuple[str, bool], list[Any]]:
    """Cards per (rule, silent) and UTC day in the period: whole hours from the hourly tally, the period's
    partial first and last hours from the card log itself."""
    start, end = as_utc(query.since), as_utc(query.until)
    first_whole = hour_of(start) if start == hour_of(start) else hour_of(start) + HOUR
    last_whole = hour_of(end)
    edges = [(start, end)] if first_whole >= last_whole else [(start, first_whole), (last_whole, end)]
    counted: defaultdict[tuple[str, bool, str], int] = defaultdict(int)
    if first_whole < last_whole:
        day = utc_day(card_hours.c.hour, dialect)
        for rule_id, hidden, on, count in rows(
                select(card_hours.c.rule_id, card_hours.c.silent, day, func.sum(card_hours.c.cards))
                .where(*_card_conditions(card_hours, card_hours.c.hour, query, first_whole, last_whole))
                .group_by(card_hours.c.rule_id, card_hours.c.silent, day)):
            counted[rule_id, bool(hidden), str(on)] += int(count)
    day = utc_day(issued_cards.c.issued_at, dialect)
    for since, until in edges:
        if since < until:
            for rule_id, hidden, on, count in rows(
                    select(issued_cards.c.rule_id, issued_cards.c.silent, day, func.count())
                    .where(*_card_conditions(issued_cards, issued_cards.c.issued_at, query, since, until))
                    .group_by(issued_cards.c.rule_id, issued_cards.c.silent, day)):
                counted[rule_id, bool(hidden), str(on)] += count
    days: defaultdict[tuple[str, bool], list[Any]] = defaultdict(list)
    for (rule_id, hidden, on), count in counted.items():
        days[rule_id, hidden].append((on, count))
    return days


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


def _figures(rule_id: str, fired: int, patients: int, accepted: int, overridden: int, reasons: list[Any],
             days: list[Any], median_seconds: float | None) -> RuleFigures:
    """One rule's figures from its rows: reasons (system, code, display, count) and days (day, count)."""
    top = sorted((ReasonCount(code, display, count, system) for system, code, display, count in reasons),
                 key=lambda reason: (-reason.count, reason.code))
    return RuleFigures(
        rule_id=rule_id, fired=fired, patients=patients, accepted=accepted, overridden=overridden,
        accept_rate=accepted / fired if fired else None, override_rate=overridden / fired if fired else None,
        top_override_reasons=top[:TOP_REASONS],
        median_seconds_to_feedback=None if median_seconds is None else round(float(median_seconds), 3),
        firing_by_day=[DayCount(date.fromisoformat(str(day)), count) for day, count in days])
