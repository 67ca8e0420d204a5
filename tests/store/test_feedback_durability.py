"""Feedback durability: many threads, two processes, a kill mid-write, and the schema's migrations."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, select, text

from cds import PROJECT_ROOT
from cds.patient_hash import patient_key
from cds.store.database import SQLITE_BUSY_TIMEOUT_MS
from cds.store.feedback import FeedbackStore
from cds.store.tables import card_hours, hour_of, metadata
from tests.conftest import fresh_database
from tests.feedback_writer import feedback as feedback_request
from tests.live import wait_until
from tests.stores import OLD_FEEDBACK, database_at


def _writer(url: str, name: str, count: int) -> subprocess.Popen:
    """A `tests.feedback_writer` process; its stdout lists `[card, stored]` as each commits."""
    return subprocess.Popen([sys.executable, "-m", "tests.feedback_writer", url, name, str(count)],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)


def test_sqlite_runs_in_wal_with_a_busy_timeout(settings):
    with FeedbackStore(settings.feedback_url()).engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_stores_opening_a_new_sqlite_file_at_once_all_open_it_in_wal(tmp_path):
    # SQLite refuses at once, busy timeout or not, one of several connections switching a file to WAL at the
    # same moment (two workers starting on a new file met it in CI): "database is locked".
    for round_number in range(15):
        path = tmp_path / f"new-{round_number}.db"
        sqlite3.connect(path).close()                # a new file, in the rollback journal
        together = threading.Barrier(3)
        with ThreadPoolExecutor(3) as pool:
            assert list(pool.map(_journal_mode_on_opening, [path] * 3, [together] * 3)) == ["wal"] * 3


def _journal_mode_on_opening(path: Path, together: threading.Barrier) -> str:
    """Open a store on the file when the others do; the journal mode it is in."""
    together.wait()
    with FeedbackStore(f"sqlite:///{path}").engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA journal_mode").scalar()


def test_many_threads_lose_no_row_and_store_each_card_once(database_url):
    store = FeedbackStore(database_url)
    cards = [f"card-{i}" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(lambda card: store.store("b12-order-sign", feedback_request(card))["stored"],
                               cards * 4))
    assert sum(stored) == len(cards)
    assert sorted(row["card_uuid"] for row in store.rows()) == sorted(cards)


def test_two_processes_sharing_one_sqlite_file_lose_no_row_and_store_each_card_once(settings):
    url = settings.feedback_url()  # a fresh file: both workers also migrate it at the same moment
    workers = [_writer(url, name, 60) for name in ("a", "b")]
    outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    results = [json.loads(line) for output in outputs for line in output.splitlines()]
    shared = [stored for card, stored in results if card.startswith("shared-")]
    assert (len(shared), sum(shared)) == (120, 60)  # each shared card stored by one worker only
    assert all(stored == 1 for card, stored in results if not card.startswith("shared-"))
    rows = FeedbackStore(url).rows()
    assert len(rows) == len({row["card_uuid"] for row in rows}) == 180


def test_a_writer_killed_mid_write_loses_no_committed_row(database_url):
    writer = _writer(database_url, "killed", 0)
    committed = []
    for line in writer.stdout:
        committed.append(json.loads(line)[0])
        if len(committed) == 50:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    store = FeedbackStore(database_url)  # opens as usual
    assert set(committed) <= {row["card_uuid"] for row in store.rows()}
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert store.store("b12-order-sign", feedback_request("after-the-kill"))["stored"] == 1


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", "cds.store:migrations")
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_make_the_schema_the_code_uses(database_url):
    store = FeedbackStore(database_url)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == _head()
        assert compare_metadata(context, metadata) == []   # every table the code reads and writes


def test_a_database_made_before_migrations_is_stamped_and_keeps_its_rows(database_url):
    engine = database_at(database_url, "0001")  # the tables as the store made them before migrations
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(insert(OLD_FEEDBACK), {"card_uuid": "old", "outcome": "accepted", "known_card": "no",
                                                  "service_id": "b12-order-sign", "payload": "{}",
                                                  "received_at": datetime(2026, 11, 1, tzinfo=UTC)})
    engine.dispose()
    store = FeedbackStore(database_url)
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    assert [r["card_uuid"] for r in store.rows()] == ["old"]
    assert store.store("b12-order-sign", feedback_request("old"))["stored"] == 0


def test_a_card_batch_the_database_ends_to_break_a_deadlock_is_written_again_and_counts_its_feedback(postgres,
                                                                                                      caplog):
    # Another writer holds the card's early feedback row, as the late-feedback sweep claims it, and then wants
    # the hour's tally row the batch holds: PostgreSQL ends the batch's transaction (deadlock_detected). The
    # writer would have dropped the batch's cards; it runs the batch again once the other has gone on.
    store = FeedbackStore(fresh_database(postgres))
    card = {"card_uuid": "card-1", "service_id": "b12-order-sign", "rule_id": "units.mg-mcg-confusion",
            "pack_version": "2026-12-06", "indicator": "warning", "hook_instance": "h-1", "silent": False,
            "issued_at": datetime(2026, 11, 30, 9, 30, tzinfo=UTC), "patient_hash": "0" * 64,
            "patient_key": patient_key("0" * 64)}
    store.store("b12-order-sign", feedback_request("card-1"))          # feedback before its card
    other = store.engine.connect()
    other.begin()
    other.execute(text("SET LOCAL deadlock_timeout = '10s'"))         # the batch's wait is the one found
    other.execute(text("SELECT 1 FROM feedback WHERE card_uuid = 'card-1' FOR UPDATE"))
    with ThreadPoolExecutor(1) as pool:
        batch = pool.submit(store.log_cards, [card])
        wait_until(lambda: _waiting_on_a_lock(store.engine) == 1, "the batch waiting for the feedback row")
        other.execute(insert(card_hours).values(hour=hour_of(card["issued_at"]), service_id="b12-order-sign",
                                                rule_id="units.mg-mcg-confusion", pack_version="2026-12-06",
                                                silent=False, cards=0))
        other.rollback()
        other.close()
        batch.result(timeout=30)
    assert "ended by the database to let another go on (40P01)" in caplog.text
    with store.engine.connect() as connection:
        [row] = connection.execute(select(card_hours)).mappings()
    assert (row["cards"], row["accepted"]) == (1, 1)


def _waiting_on_a_lock(engine: Engine) -> int:
    """Backends of the engine's server waiting on a lock now."""
    with engine.connect() as connection:
        waiting = connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))
        return waiting.scalar_one()
