"""Feedback: stored once per card and outcome, unknown cards kept and marked; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cds.api import create_app
from cds.store.cardlog import card_rows
from cds.store.feedback import FeedbackRequest, FeedbackStore
from tests.conftest import fixture_request


@pytest.fixture
def client(settings, runtime, database_url) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"database_url": database_url}), runtime)) as client:
        yield client


def _issue(client: TestClient, service: str, fixture: str) -> list[dict]:
    """The cards of one fixture call, once the card log has written them."""
    cards = client.post(f"/cds-services/{service}", json=fixture_request(fixture)).json()["cards"]
    client.app.state.card_log.flush()
    return cards


def _feedback(card: str, outcome: str = "overridden") -> dict:
    item = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-25T10:00:00Z"}
    if outcome == "overridden":
        item["overrideReason"] = {"reason": {"system": "urn:cobalt-cds:override-reason", "code": "dose-intended"},
                                  "userComment": "checked"}
    return {"feedback": [item]}


def test_feedback_is_idempotent_and_traceable(client):
    card = _issue(client, "b12-order-sign", "requests/unit-error-1000mg.json")[0]
    first = client.post("/cds-services/b12-order-sign/feedback", json=_feedback(card["uuid"]))
    again = client.post("/cds-services/b12-order-sign/feedback", json=_feedback(card["uuid"]))
    accepted = client.post("/cds-services/b12-order-sign/feedback", json=_feedback(card["uuid"], "accepted"))
    assert first.json() == {"stored": 1, "alreadyStored": 0}
    assert again.json() == {"stored": 0, "alreadyStored": 1}
    assert accepted.json() == {"stored": 1, "alreadyStored": 0}
    rows = client.app.state.feedback.rows()
    assert len(rows) == 2
    assert {r["rule_id"] for r in rows} == {"units.mg-mcg-confusion"}
    assert {r["pack_version"] for r in rows} == {card["extension"]["cobalt-cds"]["packVersion"]}


def test_feedback_for_unknown_card_is_stored_and_marked(client):
    response = client.post("/cds-services/b12-order-sign/feedback", json=_feedback("never-issued"))
    assert response.json() == {"stored": 1, "alreadyStored": 0}
    row = client.app.state.feedback.rows()[0]
    assert (row["known_card"], row["rule_id"]) == ("no", None)


def test_malformed_feedback_is_400(client):
    for body in ({}, {"feedback": []}, {"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "t"}]},
                 {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "not a date"}]},
                 {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "0001-01-01T00:00:00+01:00"}]}):
        response = client.post("/cds-services/b12-order-sign/feedback", json=body)
        assert response.status_code == 400
        assert response.json()["detail"]
    assert client.post("/cds-services/b12-order-sign/feedback", content=b"nope",
                       headers={"Content-Type": "application/json"}).status_code == 400


def test_concurrent_repeats_store_once(database_url):
    store = FeedbackStore(database_url)
    card = {"uuid": "c-1", "source": {"topic": {"code": "units.mg-mcg-confusion"}}, "indicator": "critical"}
    rows = card_rows("b12-order-sign", "hook-1", "0" * 64, [card], datetime.now(UTC))
    request = FeedbackRequest.model_validate(_feedback("c-1"))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.log_cards(rows), range(16)))
        results = list(pool.map(lambda _: store.store("b12-order-sign", request), range(16)))
    assert sum(r["stored"] for r in results) == 1
    assert sum(r["alreadyStored"] for r in results) == 15
    [row] = store.rows()
    assert (row["known_card"], row["rule_id"]) == ("yes", "units.mg-mcg-confusion")


FAILING_INSERT = {
    "sqlite": ["CREATE TRIGGER poison BEFORE INSERT ON feedback WHEN NEW.card_uuid = 'poison' "
               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
    "postgresql": ["CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.card_uuid = 'poison' THEN "
                   "RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                   "CREATE TRIGGER poison BEFORE INSERT ON feedback FOR EACH ROW EXECUTE FUNCTION poison()"],
}


def test_store_failure_is_503_and_stores_none_of_the_request(client):
    store = client.app.state.feedback
    with store.engine.begin() as connection:
        for statement in FAILING_INSERT[store.engine.dialect.name]:
            connection.execute(text(statement))
    body = {"feedback": _feedback("good")["feedback"] + _feedback("poison")["feedback"]}
    response = client.post("/cds-services/b12-order-sign/feedback", json=body)
    assert response.status_code == 503
    assert "nothing was stored" in response.json()["error"]
    assert store.rows() == []
    retry = client.post("/cds-services/b12-order-sign/feedback", json=_feedback("good"))
    assert retry.json() == {"stored": 1, "alreadyStored": 0}


def test_repeat_within_one_request_is_counted_once(client):
    body = {"feedback": _feedback("same")["feedback"] * 2}
    assert client.post("/cds-services/b12-order-sign/feedback", json=body).json() == {"stored": 1, "alreadyStored": 1}


def test_feedback_finds_each_services_own_card_for_one_hook_instance(client):
    """An EHR calls order-sign and label-check with one hookInstance; the pharmacist's override
    on label-check is stored for label-check's card, not taken as a repeat of order-sign's."""
    uuids = {}
    for service in ("b12-order-sign", "b12-label-check"):
        cards = _issue(client, service, "requests/unit-error-1000mg.json")
        uuids[service] = next(c["uuid"] for c in cards if c["source"]["topic"]["code"] == "units.mg-mcg-confusion")
    assert uuids["b12-order-sign"] != uuids["b12-label-check"]
    for service, card in uuids.items():
        response = client.post(f"/cds-services/{service}/feedback", json=_feedback(card))
        assert response.json() == {"stored": 1, "alreadyStored": 0}
    assert {(r["service_id"], r["known_card"]) for r in client.app.state.feedback.rows()} == {
        ("b12-order-sign", "yes"), ("b12-label-check", "yes")}
