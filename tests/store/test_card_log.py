"""The card log: what each issued card leaves in the store (no PHI), the patient-hash key, retention,
feedback columns, the migration of old feedback, and CDS calls answered while the store is down."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from cds import PROJECT_ROOT
from cds.api import create_app
from cds.config import Settings
from cds.patient_hash import KEY_FILE
from cds.store.cardlog import SWEEP_AFTER_S, card_rows
from cds.store.feedback import FeedbackStore
from cds.store.tables import card_hours, feedback, issued_cards
from tests.conftest import fixture_request, sample
from tests.live import wait_until
from tests.postgres import postgres_server
from tests.stores import OLD_FEEDBACK, database_at, stored_text, table_rows

UNIT_ERROR = "requests/unit-error-1000mg.json"
DROPPED = "cds_card_log_dropped_total"


@pytest.fixture
def client(settings, runtime, database_url) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"database_url": database_url}), runtime)) as client:
        yield client


def test_each_issued_card_is_logged_with_a_keyed_patient_hash_and_no_phi(client, settings):
    request = fixture_request(UNIT_ERROR)
    cards = client.post("/cds-services/b12-order-sign", json=request).json()["cards"]
    comment = "Patient Jane Doe told me she tolerates it"
    client.post("/cds-services/b12-order-sign/feedback", json={"feedback": [{
        "card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-30T10:00:00+01:00",
        "overrideReason": {"reason": {"system": "urn:cobalt-cds:override-reason", "code": "dose-intended",
                                      "display": "Dose is intended and checked"}, "userComment": comment}}]})
    client.app.state.card_log.flush()
    engine = client.app.state.feedback.engine
    rows = table_rows(engine)
    key = (settings.data_dir / KEY_FILE).read_text().strip().encode()
    patient_hash = hmac.new(key, request["context"]["patientId"].encode(), hashlib.sha256).hexdigest()
    assert sorted((r["card_uuid"], r["service_id"], r["rule_id"], r["pack_version"], r["indicator"],
                   r["hook_instance"], r["patient_hash"]) for r in rows["issued_cards"]) == sorted(
        (c["uuid"], "b12-order-sign", c["source"]["topic"]["code"], c["extension"]["cobalt-cds"]["packVersion"],
         c["indicator"], request["hookInstance"], patient_hash) for c in cards)
    [answer] = rows["feedback"]
    assert (answer["override_code"], answer["override_display"], answer["comment_given"]) == (
        "dose-intended", "Dose is intended and checked", True)
    assert answer["outcome_at"].replace(tzinfo=UTC) == datetime(2026, 11, 30, 9, tzinfo=UTC)
    stored = stored_text(engine)
    assert request["context"]["patientId"] not in stored
    assert "Jane" not in stored


def test_feedback_stored_while_its_cards_batch_was_in_flight_is_counted_within_seconds(client):
    # On PostgreSQL a feedback post and the batch logging its card can each commit unseen by the other (as
    # on two replicas): the feedback is left unclaimed. The writer sweeps seconds after a batch, not hourly.
    card = client.post("/cds-services/b12-order-sign", json=fixture_request(UNIT_ERROR)).json()["cards"][0]
    client.app.state.card_log.flush()
    store = client.app.state.feedback
    with store.engine.begin() as connection:   # as that post leaves it: stored, its card not seen
        connection.execute(insert(feedback), {"card_uuid": card["uuid"], "outcome": "accepted",
                                              "service_id": "b12-order-sign", "known_card": "no",
                                              "received_at": datetime.now(UTC), "outcome_at": datetime.now(UTC)})
    another = {**fixture_request(UNIT_ERROR), "hookInstance": str(uuid4())}   # a batch after it, as under load
    client.post("/cds-services/b12-order-sign", json=another)

    def accepted() -> int:
        with store.engine.connect() as connection:
            return connection.execute(select(func.sum(card_hours.c.accepted))).scalar_one() or 0

    wait_until(lambda: accepted() == 1, "the feedback counted", timeout_s=SWEEP_AFTER_S + 8)


def test_an_odd_hook_instance_is_logged_to_fit(client):
    """A hookInstance with NUL characters (PostgreSQL refuses them) and over the column's length."""
    request = {**fixture_request(UNIT_ERROR), "hookInstance": "odd\x00" * 40}
    before = sample(DROPPED, {"reason": "store_error"})
    cards = client.post("/cds-services/b12-order-sign", json=request).json()["cards"]
    client.app.state.card_log.flush()
    assert [row["hook_instance"] for row in table_rows(client.app.state.feedback.engine)["issued_cards"]] == [
        ("odd" * 40)[:100]] * len(cards)
    assert sample(DROPPED, {"reason": "store_error"}) == before


def test_the_hash_key_comes_from_the_setting_when_given(tmp_path, runtime):
    settings = Settings(data_dir=tmp_path, patient_hash_key="a secret of the deployment")
    request = fixture_request(UNIT_ERROR)
    with TestClient(create_app(settings, runtime)) as client:
        client.post("/cds-services/b12-order-sign", json=request)
        client.app.state.card_log.flush()
        hashes = {row["patient_hash"] for row in table_rows(client.app.state.feedback.engine)["issued_cards"]}
    assert hashes == {hmac.new(b"a secret of the deployment", request["context"]["patientId"].encode(),
                               hashlib.sha256).hexdigest()}
    assert not (tmp_path / KEY_FILE).exists()


def test_workers_starting_together_make_one_private_key(tmp_path):
    script = ("import sys; from pathlib import Path; from cds.config import Settings; "
              "from cds.patient_hash import patient_hasher; "
              "print(patient_hasher(Settings(data_dir=Path(sys.argv[1])))('pat-1'))")
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=PROJECT_ROOT,
                                stdout=subprocess.PIPE, text=True) for _ in range(6)]
    hashes = {worker.communicate(timeout=60)[0].strip() for worker in workers}
    assert len(hashes) == 1 and len(hashes.pop()) == 64
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_rows_past_retention_are_pruned_when_the_writer_starts(settings, runtime, database_url):
    store = FeedbackStore(database_url)
    old, recent = datetime.now(UTC) - timedelta(days=401), datetime.now(UTC) - timedelta(days=399)
    card = {"uuid": "", "source": {"topic": {"code": "units.mg-mcg-confusion"}}, "indicator": "critical"}
    for uuid, moment in (("old", old), ("recent", recent), ("today", datetime.now(UTC))):
        store.log_cards(card_rows("b12-order-sign", "h", "0" * 64, [{**card, "uuid": uuid}], moment))
        with store.engine.begin() as connection:
            connection.execute(insert(feedback), {"card_uuid": uuid, "outcome": "accepted", "known_card": "yes",
                                                  "service_id": "b12-order-sign", "received_at": moment})
    app = create_app(settings.model_copy(update={"database_url": database_url}), runtime)
    with TestClient(app) as client:
        client.post("/cds-services/b12-order-sign", json=fixture_request(UNIT_ERROR))
        client.app.state.card_log.flush()  # the writer prunes before it writes
    rows = table_rows(store.engine)
    assert "old" not in {r["card_uuid"] for r in rows["issued_cards"]} | {r["card_uuid"] for r in rows["feedback"]}
    assert {"recent", "today"} <= {r["card_uuid"] for r in rows["issued_cards"]}
    assert sorted(r["card_uuid"] for r in rows["feedback"]) == ["recent", "today"]


def test_a_0002_database_keeps_its_feedback_in_the_new_columns_without_comments(database_url):
    engine = database_at(database_url, "0002")
    items = [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T08:30:00Z",
              "overrideReason": {"reason": {"system": "urn:cobalt-cds:override-reason", "code": "specialist-advice",
                                            "display": "Following specialist advice"},
                                 "userComment": "Mr Smith, NHS 943 476 5919"}},
             {"card": "c-2", "outcome": "accepted", "outcomeTimestamp": "2026-11-21T09:00:00+02:00",
              "acceptedSuggestions": [{"id": "s-1"}, {"id": "s-2"}]}]
    with engine.begin() as connection:
        connection.execute(insert(issued_cards), [
            {"card_uuid": "c-1", "service_id": "b12-order-sign", "rule_id": "units.mg-mcg-confusion",
             "pack_version": "1", "issued_at": datetime(2026, 11, 20, 8, tzinfo=UTC)}])
        connection.execute(insert(OLD_FEEDBACK), [
            {"card_uuid": item["card"], "outcome": item["outcome"], "known_card": "yes", "service_id": "b12-order-sign",
             "payload": json.dumps(item), "received_at": datetime(2026, 11, 21, tzinfo=UTC)} for item in items])
    engine.dispose()
    store = FeedbackStore(database_url)
    rows = {row["card_uuid"]: row for row in store.rows()}
    assert set(rows) == {"c-1", "c-2"}
    assert (rows["c-1"]["override_system"], rows["c-1"]["override_code"], rows["c-1"]["override_display"],
            rows["c-1"]["comment_given"]) == ("urn:cobalt-cds:override-reason", "specialist-advice",
                                              "Following specialist advice", True)
    assert (rows["c-2"]["accepted_suggestions"], rows["c-2"]["comment_given"]) == (["s-1", "s-2"], False)
    assert [rows[c]["outcome_at"].replace(tzinfo=UTC) for c in ("c-1", "c-2")] == [
        datetime(2026, 11, 20, 8, 30, tzinfo=UTC), datetime(2026, 11, 21, 7, tzinfo=UTC)]
    assert [r["card_uuid"] for r in table_rows(store.engine)["issued_cards"]] == ["c-1"]
    assert "Smith" not in stored_text(store.engine)


def _calls_answer_with_cards_and_count_the_drop(client: TestClient) -> None:
    """Three calls, answered 200 with their cards; once the writer has tried, each card counted as dropped."""
    before = sample(DROPPED, {"reason": "store_error"})
    responses = [client.post("/cds-services/b12-order-sign", json=fixture_request(UNIT_ERROR)) for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    assert all("units.mg-mcg-confusion" in [c["source"]["topic"]["code"] for c in r.json()["cards"]]
               for r in responses)
    client.app.state.card_log.flush()
    assert sample(DROPPED, {"reason": "store_error"}) - before == sum(len(r.json()["cards"]) for r in responses)


def test_calls_succeed_when_the_sqlite_file_is_gone(settings, runtime):
    with TestClient(create_app(settings, runtime)) as client:
        client.post("/cds-services/b12-order-sign", json=fixture_request(UNIT_ERROR))
        client.app.state.card_log.flush()   # the writer's start-up work is done: it cannot make the file again
        client.app.state.feedback.engine.dispose()
        database = Path(settings.feedback_url().removeprefix("sqlite:///"))
        for path in database.parent.glob(database.name + "*"):
            path.unlink()
        database.mkdir()  # the path can no longer be opened as a database
        _calls_answer_with_cards_and_count_the_drop(client)


def test_calls_succeed_when_postgres_is_stopped(settings, runtime):
    with ExitStack() as server:
        url = server.enter_context(postgres_server())  # a server of its own, to stop
        with TestClient(create_app(settings.model_copy(update={"database_url": url}), runtime)) as client:
            server.close()  # PostgreSQL stops (and its directory is gone) while the app serves
            _calls_answer_with_cards_and_count_the_drop(client)


def test_shutdown_writes_what_is_queued(settings, runtime):
    app = create_app(settings, runtime)
    cards = TestClient(app).post("/cds-services/b12-order-sign", json=fixture_request(UNIT_ERROR)).json()["cards"]
    with TestClient(app):  # no lifespan above: the cards waited in the queue; the writer starts and shuts down
        pass
    assert sorted(row["card_uuid"] for row in table_rows(app.state.feedback.engine)["issued_cards"]) == sorted(
        card["uuid"] for card in cards)


def test_a_full_queue_drops_and_counts_without_failing_the_call(settings, runtime, monkeypatch):
    monkeypatch.setattr("cds.store.cardlog.QUEUE_CALLS", 1)
    client = TestClient(create_app(settings, runtime))  # no lifespan: the writer never runs, the queue stays full
    before = sample(DROPPED, {"reason": "queue_full"})
    responses = [client.post("/cds-services/b12-order-sign", json=fixture_request(UNIT_ERROR)) for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    assert sample(DROPPED, {"reason": "queue_full"}) - before == sum(len(r.json()["cards"]) for r in responses[1:])
