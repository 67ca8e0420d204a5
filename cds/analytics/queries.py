"""The analytics figures from the card log and the feedback table (SQLAlchemy Core; SQLite and PostgreSQL).

The cards are those issued in the query's period (and service, pack version); their feedback is
joined by card uuid and service whenever it came, so feedback that arrived before its card was
logged still counts. A card with feedback of both outcomes counts as accepted and as overridden.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Subquery, and_, func, or_, select

from cds.analytics.figures import AnalyticsQuery, AnalyticsReport, DayCount, ReasonCount, RuleFigures
from cds.feedback import READ_ONLY, as_utc, feedback, issued_cards
from cds.rulebook.versions import like_patterns

TOP_REASONS = 5


def build_report(engine: Engine, query: AnalyticsQuery) -> AnalyticsReport:
    """Per rule that fired in the period: the figures of RuleFigures, most fired first."""
    cards = _cards(query)
    answered = cards.join(feedback, and_(feedback.c.card_uuid == cards.c.card_uuid,
                                         feedback.c.service_id == cards.c.service_id))
    rule = cards.c.rule_id
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:  # one snapshot, writers go on
        def rows(statement: Select) -> list[Any]:
            return list(connection.execute(statement))

        fired = rows(select(rule, func.count(), func.count(func.distinct(cards.c.patient_hash))).group_by(rule))
        outcomes = {(r, outcome): count for r, outcome, count in rows(
            select(rule, feedback.c.outcome, func.count(func.distinct(cards.c.card_uuid)))
            .select_from(answered).group_by(rule, feedback.c.outcome))}
        reasons = rows(select(rule, feedback.c.override_system, feedback.c.override_code,
                              func.max(feedback.c.override_display), func.count())
                       .select_from(answered)
                       .where(feedback.c.outcome == "overridden", feedback.c.override_code.is_not(None))
                       .group_by(rule, feedback.c.override_system, feedback.c.override_code))
        day = _utc_day(cards.c.issued_at, engine.dialect.name)
        days = rows(select(rule, day, func.count()).group_by(rule, day).order_by(day))
        delays = rows(select(rule, cards.c.issued_at, func.min(feedback.c.outcome_at)).select_from(answered)
                      .where(feedback.c.outcome_at.is_not(None))
                      .group_by(rule, cards.c.card_uuid, cards.c.issued_at))
    reasons, days, delays = _per_rule(reasons), _per_rule(days), _per_rule(delays)
    return AnalyticsReport(query, [
        _figures(rule_id, count, patients, outcomes.get((rule_id, "accepted"), 0),
                 outcomes.get((rule_id, "overridden"), 0), reasons[rule_id], days[rule_id], delays[rule_id])
        for rule_id, count, patients in sorted(fired, key=lambda row: (-row[1], row[0]))])


def _cards(query: AnalyticsQuery) -> Subquery:
    """The log's cards the query selects."""
    conditions = [issued_cards.c.issued_at >= as_utc(query.since), issued_cards.c.issued_at < as_utc(query.until)]
    if query.service is not None:
        conditions.append(issued_cards.c.service_id == query.service)
    if query.pack_version is not None:  # a declared version ("2026-11-30") selects every content of it
        version = issued_cards.c.pack_version
        conditions.append(or_(version == query.pack_version,
                              *(version.like(pattern, escape="\\") for pattern in like_patterns(query.pack_version))))
    return select(issued_cards).where(*conditions).subquery("cards")


def _utc_day(moment: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a stored time (SQLite keeps UTC times without offset)."""
    return func.date(func.timezone("UTC", moment)) if dialect == "postgresql" else func.date(moment)


def _per_rule(rows: list[Any]) -> defaultdict[str, list[tuple[Any, ...]]]:
    """Rows whose first column is the rule id, by rule (the rest of each row)."""
    grouped: defaultdict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for rule_id, *rest in rows:
        grouped[rule_id].append(tuple(rest))
    return grouped


def _figures(rule_id: str, fired: int, patients: int, accepted: int, overridden: int, reasons: list[Any],
             days: list[Any], delays: list[Any]) -> RuleFigures:
    """One rule's figures from its rows: reasons (system, code, display, count), days (day, count) and
    delays (issued, first feedback's outcome time)."""
    seconds = [(as_utc(answered) - as_utc(issued)).total_seconds() for issued, answered in delays]
    top = sorted((ReasonCount(code, display, count, system) for system, code, display, count in reasons),
                 key=lambda reason: (-reason.count, reason.code))
    return RuleFigures(
        rule_id=rule_id, fired=fired, patients=patients, accepted=accepted, overridden=overridden,
        accept_rate=accepted / fired if fired else None, override_rate=overridden / fired if fired else None,
        top_override_reasons=top[:TOP_REASONS],
        median_seconds_to_feedback=statistics.median(seconds) if seconds else None,
        firing_by_day=[DayCount(date.fromisoformat(str(day)), count) for day, count in days])
