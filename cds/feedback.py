"""Card log and feedback store (SQLAlchemy: SQLite by default, PostgreSQL by URL).

Nothing here holds PHI: cards are logged with a keyed hash of the patient id (cds.patient_hash),
and feedback keeps the override reason's coding but never the clinician's free-text userComment
(only whether one was given).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    false,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from cds.migrations import upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "cds_read_only"  # execution option: the connection only reads (SQLite: BEGIN without IMMEDIATE)

metadata = MetaData()  # the schema the code reads and writes; Alembic revisions (cds/migrations) make the tables

issued_cards = Table(
    "issued_cards", metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(100), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("pack_version", String(100)),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("indicator", String(20)),           # null in rows logged before migration 0003
    Column("hook_instance", String(100)),
    Column("patient_hash", String(64)),        # HMAC-SHA256 of the patient id, hex
    Column("patient_key", BigInteger),         # its first 64 bits (cds.patient_hash.patient_key)
    Index("ix_issued_cards_issued_at_rule_patient", "issued_at", "rule_id", "patient_key"),
)

card_hours = Table(   # the card log tallied per hour, kept with it (log_cards, prune): analytics reads this
    "card_hours", metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("service_id", String(100), primary_key=True),
    Column("rule_id", String(200), primary_key=True),
    Column("pack_version", String(100), primary_key=True),   # '' for a card logged without one
    Column("cards", BigInteger, nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("card_uuid", String(64), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("service_id", String(100), nullable=False),
    Column("rule_id", String(200)),            # rule, pack version, indicator: null when the card was not
    Column("pack_version", String(100)),       # in the log when the feedback came (queries join by card_uuid)
    Column("known_card", String(5), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("indicator", String(20)),
    Column("outcome_at", DateTime(timezone=True)),     # the EHR's outcomeTimestamp, in UTC
    Column("override_system", String(200)),
    Column("override_code", String(100)),
    Column("override_display", String(300)),
    Column("accepted_suggestions", JSON),               # list of suggestion uuids
    Column("comment_given", Boolean, nullable=False, server_default=false()),  # the comment itself is never kept
    Column("card_issued_at", DateTime(timezone=True)),   # its card's issue time, when the log knew the card
    UniqueConstraint("card_uuid", "outcome", name="uq_feedback_card_outcome"),
    Index("ix_feedback_received_at", "received_at"),
    Index("ix_feedback_card_issued_at", "card_issued_at"),
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


def _insert_ignoring_duplicates(dialect: str, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the two supported databases."""
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if module is None:
        raise ValueError(f"unsupported database '{dialect}': use SQLite or PostgreSQL")
    return module.insert(table).on_conflict_do_nothing()


def _make_sqlite_durable(engine: Engine) -> None:
    """WAL (a killed writer loses only its own uncommitted transaction; readers never block it),
    a busy timeout (writers from every thread and process queue rather than fail), and
    BEGIN IMMEDIATE (a transaction takes the write lock first, so read-then-write cannot deadlock),
    except on a connection with the execution option READ_ONLY (a snapshot that never blocks writers)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver leaves BEGIN to SQLAlchemy (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


class FeedbackStore:
    def __init__(self, url: str):
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _make_sqlite_durable(self.engine)
        upgrade(self.engine)
        insert = {"sqlite": sqlite, "postgresql": postgresql}[self.engine.dialect.name].insert(card_hours)
        self._add_to_hours = insert.on_conflict_do_update(
            index_elements=[card_hours.c.hour, card_hours.c.service_id, card_hours.c.rule_id,
                            card_hours.c.pack_version],
            set_={"cards": card_hours.c.cards + insert.excluded.cards})

    def log_cards(self, rows: list[dict[str, Any]]) -> None:
        """Insert card-log rows (cds.cardlog.card_rows) and tally the new ones per hour. Repeat calls
        issue the same uuids, possibly concurrently: first wins, and only it is tallied."""
        if not rows:
            return
        columns = (issued_cards.c.issued_at, issued_cards.c.service_id, issued_cards.c.rule_id,
                   issued_cards.c.pack_version)
        with self.engine.begin() as connection:
            logged = connection.execute(
                _insert_ignoring_duplicates(self.engine.dialect.name, issued_cards).returning(*columns), rows).all()
            tally = Counter((hour_of(issued), service, rule, pack or "") for issued, service, rule, pack in logged)
            if tally:
                connection.execute(self._add_to_hours, [
                    {"hour": hour, "service_id": service, "rule_id": rule, "pack_version": pack, "cards": cards}
                    for (hour, service, rule, pack), cards in tally.items()])

    def store(self, service_id: str, request: FeedbackRequest) -> dict[str, int]:
        """Store each item once per (card, outcome), all items or none; returns stored and repeated counts."""
        statement = _insert_ignoring_duplicates(self.engine.dialect.name, feedback).returning(feedback.c.card_uuid)
        stored = 0
        with self.engine.begin() as connection:
            uuids = {item.card for item in request.feedback}
            issued = {row["card_uuid"]: row for row in connection.execute(
                select(issued_cards).where(issued_cards.c.card_uuid.in_(uuids))).mappings()}
            for item in request.feedback:
                row = feedback_row(service_id, item, issued.get(item.card))
                stored += connection.execute(statement, row).first() is not None
        return {"stored": stored, "alreadyStored": len(request.feedback) - stored}

    def prune(self, retention: timedelta, now: datetime) -> tuple[int, int]:
        """Delete cards issued and feedback received more than `retention` before `now`, and never
        any row dated after the table's newest row less the retention (a clock that jumps ahead
        cannot empty the log); returns how many of each."""
        deleted = []
        with self.engine.begin() as connection:
            for table, moment in ((issued_cards, issued_cards.c.issued_at), (feedback, feedback.c.received_at)):
                newest = connection.execute(select(func.max(moment))).scalar()
                if newest is None:
                    deleted.append(0)
                    continue
                before = hour_of(min(now, as_utc(newest)) - retention)   # whole hours: the tally stays exact
                deleted.append(connection.execute(delete(table).where(moment < before)).rowcount)
                if table is issued_cards:
                    connection.execute(delete(card_hours).where(card_hours.c.hour < before))
        return deleted[0], deleted[1]

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


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC; a time without offset is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def fitted(value: Any, column: Column[Any]) -> str | None:
    """A value as text cut to its String column's length (None stays None): one value the store
    refuses would lose its whole transaction."""
    return None if value is None else str(value)[:column.type.length]
