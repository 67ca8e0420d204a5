"""The store's tables, one schema for every part of it (Alembic revisions in `migrations/` make
them), and the conversions every writer and reader of them shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    text,
)

UNCLAIMED = text("card_issued_at IS NULL")   # feedback whose card was not in the log when it came
metadata = MetaData()  # the schema the code reads and writes; Alembic revisions (store/migrations) make the tables

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
    Column("silent", Boolean, nullable=False, server_default=false()),   # a silent rule's: never shown
    Index("ix_issued_cards_issued_at", "issued_at"),
)

card_hours = Table(   # the card log and its feedback tallied per hour (cds.store.tally): analytics reads this
    "card_hours", metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("service_id", String(100), primary_key=True),
    Column("rule_id", String(200), primary_key=True),
    Column("pack_version", String(100), primary_key=True),   # '' for a card logged without one
    Column("silent", Boolean, primary_key=True, server_default=false()),
    Column("cards", BigInteger, nullable=False),
    Column("patients", LargeBinary),           # the cards' distinct patient keys, sorted (cds.store.tally)
    Column("accepted", BigInteger, nullable=False, server_default=text("0")),   # cards with that feedback
    Column("overridden", BigInteger, nullable=False, server_default=text("0")),
    Column("reasons", JSON(none_as_null=True)),                   # [[system, code, count, display], …] of the overrides
    Column("delays", LargeBinary),             # each answered card's first feedback delay (ms), sorted
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
    # the late-feedback sweep's (cds.store.tally.claim_feedback): only the rows it may claim
    Index("ix_feedback_unclaimed", "received_at", sqlite_where=UNCLAIMED, postgresql_where=UNCLAIMED),
)

recorded_evaluations = Table(   # with CDS_RECORD_FACTS: each evaluation's facts, scrubbed (cds.facts.recorded)
    "recorded_evaluations", metadata,
    Column("evaluation_id", String(32), primary_key=True),   # a digest of service, hookInstance and facts
    Column("recorded_at", DateTime(timezone=True), nullable=False),   # the call's hour
    Column("service_id", String(100), nullable=False),
    Column("patient_hash", String(64)),
    Column("patient_key", BigInteger),
    Column("fact_model", String(16), nullable=False),      # the version of the facts' fields (fact_models)
    Column("rules_digest", String(20)),
    Column("profile", String(50)),
    Column("facts", JSON, nullable=False),                 # the engine's input, scrubbed
    Column("cards", JSON, nullable=False),                 # what the call gave: [rule, indicator, order, silent]
    Index("ix_recorded_evaluations_recorded_at", "recorded_at"),
)

fact_models = Table(   # each fact-model version recorded evaluations were made under: its fields and types
    "fact_models", metadata,
    Column("version", String(16), primary_key=True),
    Column("fields", JSON, nullable=False),
)

rules_in_force = Table(   # each day, the rule versions in force (what a firing alarm names before and after)
    "rules_in_force", metadata,
    Column("day", Date, primary_key=True),
    Column("rule_id", String(200), primary_key=True),
    Column("pack_version", String(100), primary_key=True),
    Column("rules_digest", String(20), primary_key=True),
    Column("mode", String(10), nullable=False),            # live or silent
)

seen_tokens = Table(   # the JWT replay cache (cds.store.replay)
    "seen_tokens", metadata,
    Column("token_key", String(64), primary_key=True),     # sha256 of iss and jti: fixed size, any jti
    Column("expires_at", BigInteger, nullable=False, index=True),  # epoch seconds
)


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
