"""Databases as older versions of the service left them, for migration tests."""

from __future__ import annotations

from sqlalchemy import DateTime, Engine, create_engine
from sqlalchemy.sql import column, table

from cds.migrations import upgrade

OLD_FEEDBACK = table("feedback", *(column(name) for name in ("card_uuid", "outcome", "known_card", "service_id",
                                                              "payload")), column("received_at", DateTime(True)))
"""The feedback table until revision 0003 (the item kept as a JSON payload)."""


def database_at(url: str, revision: str) -> Engine:
    """The database at `url` migrated to `revision` only."""
    engine = create_engine(url)
    upgrade(engine, revision)
    return engine
