"""The feedback store's schema, managed by Alembic migrations (revisions in `versions/`).

`upgrade(engine)` brings any database to the newest revision at start. A database made before
migrations existed (its tables created directly) is stamped at the first revision, which made those
same tables, then upgraded. The upgrade runs in one transaction that holds the database's write
lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so workers starting together migrate once.

A new revision: a file in `versions/` whose `down_revision` is the current head, written by hand
(or `alembic revision` with `script_location = cds.store:migrations`).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

BASELINE = "0001"
PRE_MIGRATION_TABLES = {"issued_cards", "feedback"}
_LOCK_ID = 0x0C0BA17  # PostgreSQL advisory lock: one migrating worker at a time


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to the newest revision, or the one named (stamping a pre-migration database first)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        config = _config(connection)
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and tables >= PRE_MIGRATION_TABLES:
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)


def revisions(engine: Engine) -> tuple[str | None, str]:
    """The database's revision (None: it has no schema yet) and the newest this code knows, without
    changing anything."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(_config(connection)).get_current_head()
    assert head is not None
    return current, head


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "cds.store:migrations")
    config.attributes["connection"] = connection
    return config
