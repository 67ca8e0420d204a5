"""The feedback store as tests see it: every stored row, SQLite's query plans, and databases as older versions
left them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, select
from sqlalchemy.sql import column, table

from cds.store.migrations import upgrade

OLD_FEEDBACK = table("feedback", *(column(name) for name in ("card_uuid", "outcome", "known_card", "service_id",
                                                              "payload")), column("received_at", DateTime(True)))
"""The feedback table until revision 0003 (the item kept as a JSON payload)."""


@contextmanager
def sqlite_plans(engine: Engine, *starting: str) -> Iterator[list[str]]:
    """SQLite's own query plan, one line each, of every statement run on `engine` meanwhile that starts with
    one of `starting` (upper case)."""
    plans: list[str] = []

    def explain(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(starting):
            rows = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            plans.append(" | ".join(row[-1] for row in rows))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(engine, "before_cursor_execute", explain)


def database_at(url: str, revision: str) -> Engine:
    """The database at `url` migrated to `revision` only."""
    engine = create_engine(url)
    upgrade(engine, revision)
    return engine


def table_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table in the store, by table."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        return {name: [dict(row) for row in connection.execute(select(table)).mappings()]
                for name, table in tables.tables.items()}


def stored_text(engine: Engine) -> str:
    """Everything the store holds, as one text to search."""
    return json.dumps(table_rows(engine), default=str)
