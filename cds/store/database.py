"""Opening the store's database: SQLite (durable settings) or PostgreSQL by URL, migrated at open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite

from cds.store.migrations import revisions, upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "cds_read_only"  # execution option: the connection only reads (SQLite: BEGIN without IMMEDIATE)


class StoreNotCurrent(Exception):
    """A store a reading tool will not change is not at the schema this code reads."""


def open_database(url: str, migrate: bool = True) -> Engine:
    """An engine on `url`, its schema upgraded to the newest revision; or, without `migrate` (tools that
    only read), left as it is, and StoreNotCurrent unless it is already there."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        _make_sqlite_durable(engine)
    if migrate:
        upgrade(engine)
        return engine
    current, head = revisions(engine)
    if current != head:
        engine.dispose()
        raise StoreNotCurrent(f"the store is at schema revision {current or 'none (no tables yet)'} and this "
                              f"version of cds reads {head}: start `cds serve` of this version once to upgrade it "
                              "(a reading tool never changes the store)")
    return engine


def insert_ignoring_duplicates(dialect: str, table: Table) -> Any:
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


