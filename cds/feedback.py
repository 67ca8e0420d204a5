"""Card log and feedback store (SQLAlchemy: SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from cds.migrations import upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000

metadata = MetaData()  # the schema the code reads and writes; Alembic revisions (cds/migrations) make the tables

issued_cards = Table(
    "issued_cards", metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(100), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("pack_version", String(100)),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("card_uuid", String(64), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("service_id", String(100), nullable=False),
    Column("rule_id", String(200)),            # null when the card is unknown to the log
    Column("pack_version", String(100)),
    Column("known_card", String(5), nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("card_uuid", "outcome", name="uq_feedback_card_outcome"),
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
    BEGIN IMMEDIATE (a transaction takes the write lock first, so read-then-write cannot deadlock)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver leaves BEGIN to SQLAlchemy (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class FeedbackStore:
    def __init__(self, url: str):
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _make_sqlite_durable(self.engine)
        upgrade(self.engine)

    def log_cards(self, service_id: str, cards: list[dict[str, Any]]) -> None:
        """Remember issued cards. Repeat calls issue the same uuids, possibly concurrently: first wins."""
        if not cards:
            return
        now = datetime.now(UTC)
        rows = [{"card_uuid": card["uuid"], "service_id": service_id, "rule_id": card["source"]["topic"]["code"],
                 "pack_version": card.get("extension", {}).get("cobalt-cds", {}).get("packVersion"),
                 "issued_at": now} for card in cards]
        statement = _insert_ignoring_duplicates(self.engine.dialect.name, issued_cards)
        with self.engine.begin() as connection:
            connection.execute(statement, rows)

    def store(self, service_id: str, request: FeedbackRequest) -> dict[str, int]:
        """Store each item once per (card, outcome), all items or none; returns stored and repeated counts."""
        statement = _insert_ignoring_duplicates(self.engine.dialect.name, feedback).returning(feedback.c.card_uuid)
        stored = 0
        with self.engine.begin() as connection:
            uuids = {item.card for item in request.feedback}
            issued = {row["card_uuid"]: row for row in connection.execute(
                select(issued_cards).where(issued_cards.c.card_uuid.in_(uuids))).mappings()}
            for item in request.feedback:
                card = issued.get(item.card)
                stored += connection.execute(statement, {
                    "card_uuid": item.card, "outcome": item.outcome, "service_id": service_id,
                    "rule_id": card["rule_id"] if card else None,
                    "pack_version": card["pack_version"] if card else None,
                    "known_card": "yes" if card else "no",
                    "payload": json.dumps(item.model_dump(mode="json", exclude_none=True)),
                    "received_at": datetime.now(UTC)}).first() is not None
        return {"stored": stored, "alreadyStored": len(request.feedback) - stored}

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(select(feedback)).mappings()]
