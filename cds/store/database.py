"""Opening the store's database: SQLite (durable settings) or PostgreSQL by URL, migrated at open."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from cds.store.migrations import revisions, upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "cds_read_only"  # execution option: the connection only reads (SQLite: BEGIN without IMMEDIATE)
# PostgreSQL ended the transaction to let another go on: deadlock_detected, serialization_failure
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_ATTEMPTS = 3

log = logging.getLogger(__name__)
Result = TypeVar("Result")


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


def in_transaction(engine: Engine, work: Callable[[Connection], Result]) -> Result:
    """`work` in one transaction, run again (TRANSACTION_ATTEMPTS in all) when PostgreSQL ended it to break a
    deadlock with another writer: it changed nothing then, and the other has gone on. Writers lock the hourly
    tally in key order, but a feedback post, the card log and its sweep also meet on feedback rows."""
    attempt = 1
    while True:
        try:
            with engine.begin() as connection:
                return work(connection)
        except DBAPIError as error:
            if attempt == TRANSACTION_ATTEMPTS or getattr(error.orig, "sqlstate", None) not in RETRIED_SQLSTATES:
                raise
            log.warning("store transaction ended by the database to let another go on (%s): running it again",
                        error.orig.sqlstate)
            attempt += 1


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
        _switch_to_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """PRAGMA journal_mode = WAL, tried again within the busy timeout: connections switching a new file at
    once (workers starting together) need the same lock, and SQLite refuses one at once ("database is
    locked") rather than let them wait on each other."""
    give_up = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= give_up:
                raise
            time.sleep(0.01)


