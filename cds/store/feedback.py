"""The card log and feedback store (SQLAlchemy: SQLite by default, PostgreSQL by URL).

Nothing here holds PHI: cards are logged with a keyed hash of the patient id (cds.patient_hash),
and feedback keeps the override reason's coding but never the clinician's free-text userComment
(only whether one was given).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, delete, func, select

from cds.store import tally
from cds.store.database import in_transaction, insert_ignoring_duplicates, open_database
from cds.store.tables import (
    as_utc,
    card_hours,
    fact_models,
    feedback,
    fitted,
    hour_of,
    issued_cards,
    recorded_evaluations,
    rules_in_force,
)


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: dict[str, Any] | None = None
    userComment: str | None = None


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1, max_length=64)
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: datetime
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReason | None = None

    @field_validator("outcomeTimestamp")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        try:
            return as_utc(moment)
        except OverflowError:
            raise ValueError("out of range in UTC") from None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1)


class FeedbackStore:
    def __init__(self, url: str, migrate: bool = True):
        """The store at `url`, upgraded to this code's schema (`migrate=False`: as it is, for reading tools;
        cds.store.database.open_database)."""
        self.engine = open_database(url, migrate)

    def log_cards(self, rows: list[dict[str, Any]]) -> None:
        """Insert card-log rows (cds.store.cardlog.card_rows) and tally the new ones per hour, with the
        feedback that came before them. Repeat calls issue the same uuids, possibly concurrently: first
        wins, and only it is tallied."""
        if not rows:
            return
        statement = insert_ignoring_duplicates(self.engine.dialect.name, issued_cards).returning(*tally.CARD_COLUMNS)

        def work(connection: Connection) -> None:
            logged = {row["card_uuid"]: row for row in connection.execute(statement, rows).mappings()}
            if not logged:
                return
            tallies = tally.card_tallies(logged.values())
            locked = tally.lock(connection, tallies)       # before the feedback rows, as a feedback post does
            early = tally.claim_feedback(connection, uuids=logged)
            for key, answered in tally.feedback_tallies(early, logged, {}).items():
                tallies[key].merge(answered)
            tally.add(connection, tallies, locked)

        in_transaction(self.engine, work)

    def store(self, service_id: str, request: FeedbackRequest) -> dict[str, int]:
        """Store each item once per (card, outcome), all items or none, and tally those on logged cards;
        returns stored and repeated counts."""
        statement = insert_ignoring_duplicates(self.engine.dialect.name, feedback).returning(feedback.c.card_uuid)

        def work(connection: Connection) -> dict[str, int]:
            counted: list[dict[str, Any]] = []
            stored = 0
            uuids = {item.card for item in request.feedback}
            issued = {row["card_uuid"]: row for row in connection.execute(
                select(*tally.CARD_COLUMNS, issued_cards.c.indicator)
                .where(issued_cards.c.card_uuid.in_(uuids), issued_cards.c.service_id == service_id)).mappings()}
            locked = tally.lock(connection, map(tally.hour_key, issued.values()))   # before counted feedback is read
            for item in request.feedback:
                row = feedback_row(service_id, item, issued.get(item.card))
                if connection.execute(statement, row).first() is not None:
                    stored += 1
                    if item.card in issued:
                        counted.append(row)
            self._count_feedback(connection, counted, issued, locked)
            return {"stored": stored, "alreadyStored": len(request.feedback) - stored}

        return in_transaction(self.engine, work)

    def tally_late_feedback(self, received_since: datetime) -> int:
        """Count feedback received since then whose card was logged after it, by a writer that could not
        see it yet (PostgreSQL, both in flight at once); returns how many rows."""
        def work(connection: Connection) -> int:
            claimed = tally.claim_feedback(connection, received_since=received_since)
            if claimed:
                uuids = {row["card_uuid"] for row in claimed}
                cards = {row["card_uuid"]: row for row in connection.execute(
                    select(*tally.CARD_COLUMNS).where(issued_cards.c.card_uuid.in_(uuids))).mappings()}
                locked = tally.lock(connection, map(tally.hour_key, cards.values()))
                self._count_feedback(connection, claimed, cards, locked)
            return len(claimed)

        return in_transaction(self.engine, work)

    @staticmethod
    def _count_feedback(connection: Any, rows: list[dict[str, Any]], cards: dict[str, Any],
                        locked: dict[tally.HourKey, tally.Tally]) -> None:
        """Tally feedback rows on logged cards (their hour rows locked), moving each card's first delay
        from what its feedback counted before gave."""
        if not rows:
            return
        earlier = tally.counted_outcome_times(connection, {row["card_uuid"] for row in rows},
                                              leaving_out={(row["card_uuid"], row["outcome"]) for row in rows})
        tally.add(connection, tally.feedback_tallies(rows, cards, earlier), locked)

    def prune(self, retention: timedelta, now: datetime) -> tuple[int, int, int]:
        """Delete cards issued, feedback received and evaluations recorded more than `retention` before
        `now` (and the rules in force on days before), never any row dated after the table's newest row
        less the retention (a clock that jumps ahead cannot empty the log); returns how many of each."""
        deleted = []
        with self.engine.begin() as connection:
            for table, moment in ((issued_cards, issued_cards.c.issued_at), (feedback, feedback.c.received_at),
                                  (recorded_evaluations, recorded_evaluations.c.recorded_at)):
                newest = connection.execute(select(func.max(moment))).scalar()
                if newest is None:
                    deleted.append(0)
                    continue
                before = hour_of(min(now, as_utc(newest)) - retention)   # whole hours: the tally stays exact
                deleted.append(connection.execute(delete(table).where(moment < before)).rowcount)
                if table is issued_cards:
                    connection.execute(delete(card_hours).where(card_hours.c.hour < before))
                    connection.execute(delete(rules_in_force).where(rules_in_force.c.day < before.date()))
        return deleted[0], deleted[1], deleted[2]

    def log_evaluations(self, rows: list[dict[str, Any]]) -> None:
        """Insert recorded evaluations (cds.store.cardlog.evaluation_row); a repeated one is kept once."""
        with self.engine.begin() as connection:
            connection.execute(insert_ignoring_duplicates(self.engine.dialect.name, recorded_evaluations), rows)

    def note_fact_model(self, version: str, model: dict[str, Any]) -> None:
        """Keep the fields of a fact-model version evaluations are recorded under (once)."""
        with self.engine.begin() as connection:
            connection.execute(insert_ignoring_duplicates(self.engine.dialect.name, fact_models),
                               {"version": version, "fields": model})

    def note_rules_in_force(self, day: date, rules: list[dict[str, str]]) -> None:
        """Note that these rules (rule_id, pack_version, rules_digest, mode) were in force on `day`."""
        if rules:
            with self.engine.begin() as connection:
                connection.execute(insert_ignoring_duplicates(self.engine.dialect.name, rules_in_force),
                                   [{**rule, "day": day} for rule in rules])

    def check_writable(self) -> None:
        """Raise what the database says if it cannot take a write now (a write that changes nothing)."""
        with self.engine.begin() as connection:
            connection.execute(delete(feedback).where(feedback.c.card_uuid == ""))

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(select(feedback)).mappings()]


def feedback_row(service_id: str, item: FeedbackItem, card: Any | None) -> dict[str, Any]:
    """The feedback table's row for one item: the override coding, accepted suggestion ids and
    whether a comment was given (never the comment), plus the card's rule when the log knows it."""
    reason = (item.overrideReason.reason or {}) if item.overrideReason else {}
    return {
        "card_uuid": item.card, "outcome": item.outcome, "service_id": service_id,
        "rule_id": card["rule_id"] if card else None,
        "pack_version": card["pack_version"] if card else None,
        "indicator": card["indicator"] if card else None,
        "card_issued_at": card["issued_at"] if card else None,
        "known_card": "yes" if card else "no",
        "received_at": datetime.now(UTC),
        "outcome_at": item.outcomeTimestamp,
        "override_system": fitted(reason.get("system"), feedback.c.override_system),
        "override_code": fitted(reason.get("code"), feedback.c.override_code),
        "override_display": fitted(reason.get("display"), feedback.c.override_display),
        "accepted_suggestions": [str(s.get("id")) for s in item.acceptedSuggestions or [] if s.get("id")] or None,
        "comment_given": bool(item.overrideReason and item.overrideReason.userComment),
    }


