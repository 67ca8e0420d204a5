"""Feedback: stored once per card and outcome, unknown cards kept and marked."""

from __future__ import annotations

from tests.conftest import fixture_request


def _feedback(card: str, outcome: str = "overridden") -> dict:
    item = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-25T10:00:00Z"}
    if outcome == "overridden":
        item["overrideReason"] = {"reason": {"system": "urn:cobalt-cds:override-reason", "code": "dose-intended"},
                                  "userComment": "checked"}
    return {"feedback": [item]}


def test_feedback_is_idempotent_and_traceable(client):
    card = client.post("/cds-services/b12-order-sign",
                       json=fixture_request("requests/unit-error-1000mg.json")).json()["cards"][0]
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
    for body in ({}, {"feedback": []}, {"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "t"}]}):
        response = client.post("/cds-services/b12-order-sign/feedback", json=body)
        assert response.status_code == 400
        assert response.json()["detail"]
    assert client.post("/cds-services/b12-order-sign/feedback", content=b"nope").status_code == 400
