"""Joins between facts and arithmetic over their fields, in a pack written only in YAML, over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import client_for, fixture_request, topics

PACK = """\
pack: escalation
version: "test"
title: Join examples
parameters:
  ratio: {value: 1.25}
rules:
  - id: escalation.draft-above-active
    title: Draft gives more per 28 days than the active order
    indicator: info
    when:
      - fact: order
        as: active
        where: {status: active, parenteral: true}
      - fact: draft_order
        where: {parenteral: true, mcg_per_28d: {gt: "=active.mcg_per_28d * $ratio"}}
    card:
      summary: "{draft_order.mcg_per_28d} mcg per 28 days drafted, {active.mcg_per_28d} active"
      detail: "{active.dose_text} {active.frequency_text} is active."
    rationale: Test rule for the join grammar.
    tests:
      - facts: {order: {status: active, parenteral: true, mcg_per_28d: 1000},
                draft_order: {parenteral: true, mcg_per_28d: 4000}}
        expect: fire
      - facts: {order: {status: active, parenteral: true, mcg_per_28d: 1000},
                draft_order: {parenteral: true, mcg_per_28d: 1000}}
        expect: quiet
  - id: escalation.hb-during-therapy
    title: Hb measured after the active order started
    indicator: info
    when:
      - fact: order
        as: active
        where: {status: active}
      - fact: lab
        as: hb
        where: {kind: hb, days_ago: {lt: "=active.authored_days_ago - 30"}}
    card:
      summary: "Hb {hb.value} g/L, {hb.days_ago} days ago, on therapy for {active.authored_days_ago} days"
      detail: Measured during therapy.
    rationale: Test rule for the join grammar.
    tests:
      - {facts: {order: {status: active, authored_days_ago: 100}, lab: {kind: hb, value: 120, days_ago: 10}},
         expect: fire}
      - {facts: {order: {status: active, authored_days_ago: 100}, lab: {kind: hb, value: 120, days_ago: 80}},
         expect: quiet}
"""


def _client(rules: Path, pack: str, settings) -> TestClient:
    (rules / "packs" / "escalation.yaml").write_text(pack)
    return client_for(rules, settings)


@pytest.fixture
def client(rules_copy, settings) -> TestClient:
    return _client(rules_copy, PACK, settings)


def _cards(client: TestClient, fixture: str, service: str, rule: str) -> list[dict]:
    response = client.post(f"/cds-services/{service}", json=fixture_request(f"requests/{fixture}.json"))
    assert response.status_code == 200, response.text
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == rule]


def test_draft_joined_to_active_order_with_arithmetic(client):
    [card] = _cards(client, "def-maintenance-loading-draft", "b12-order-sign", "escalation.draft-above-active")
    # 1 mg every 2 days = 14,000 mcg per 28 days, against 1 mg every 3 months (28-day share ~307 mcg).
    assert card["summary"].startswith("14,000 mcg per 28 days drafted, 306.")
    assert "1 mg" in card["detail"]


def test_join_needs_both_facts(client):
    # No active order: the draft alone does not match.
    assert _cards(client, "neuro-loading-draft", "b12-order-sign", "escalation.draft-above-active") == []


def test_arithmetic_uses_the_parameter(rules_copy, settings):
    client = _client(rules_copy, PACK.replace("ratio: {value: 1.25}", "ratio: {value: 100}"), settings)
    assert _cards(client, "def-maintenance-loading-draft", "b12-order-sign", "escalation.draft-above-active") == []


def test_lab_joined_to_order(client, rules_copy, settings):
    # On maintenance since 400 days ago; Hb 200 days ago: measured during therapy.
    [card] = _cards(client, "maintenance-patient-view", "b12-patient-view", "escalation.hb-during-therapy")
    assert card["summary"].startswith("Hb 133 g/L, 200")
    before = _client(rules_copy, PACK.replace('{lt: "=active.authored_days_ago - 30"}',
                                                      '{gt: "=active.authored_days_ago - 30"}'), settings)
    assert "escalation.hb-during-therapy" not in topics(
        before.post("/cds-services/b12-patient-view", json=fixture_request("requests/maintenance-patient-view.json")))


def test_arithmetic_on_an_unknown_field_does_not_hold(client):
    """The active order has no dose (none structured, none in its text): its mcg_per_28d is unknown, so
    the comparison is not true."""
    request = fixture_request("requests/def-maintenance-loading-draft.json")
    for entry in request["prefetch"]["medications"]["entry"]:
        for dosage in entry["resource"].get("dosageInstruction", []):
            for part in ("doseAndRate", "text", "patientInstruction"):
                dosage.pop(part, None)
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200, response.text
    assert "escalation.draft-above-active" not in topics(response)
