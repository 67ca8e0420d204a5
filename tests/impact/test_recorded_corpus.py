"""Recorded evaluations (CDS_RECORD_FACTS=on) on SQLite and PostgreSQL: the stored rows hold no patient id,
name, identifier, free text or token; replaying them gives the cards the live calls gave; `cds rules diff`
reads them; a corpus recorded under another fact model is refused, saying what differs."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.api import create_app
from cds.cli import app
from cds.facts.recorded import SCRUBBED, fact_model, fact_model_version
from cds.impact.corpus import read_recorded
from cds.impact.evaluate import evaluate
from cds.patient_hash import KEY_FILE
from cds.store.tables import fact_models, recorded_evaluations
from tests.conftest import FIXTURES, fixture_request
from tests.stores import stored_text, table_rows

runner = CliRunner()
TOKEN = "eyJ-secret-access-token-8f3a"
FREE_TEXT_KEYS = {"text", "div", "valueString", "patientInstruction", "comment", "family", "given"}


@pytest.fixture
def recording(settings, runtime, database_url) -> Iterator[TestClient]:
    chosen = settings.model_copy(update={"database_url": database_url, "record_facts": True})
    with TestClient(create_app(chosen, runtime)) as client:
        yield client


def _calls() -> list[tuple[str, dict[str, Any]]]:
    """Every request fixture as a call to each service of its hook, each for a patient of its own and with a
    bearer token for its FHIR server."""
    services = {"order-sign": ["b12-order-sign", "b12-label-check"], "order-select": ["b12-order-select"],
                "patient-view": ["b12-patient-view"], "medication-prescribe": ["b12-medication-prescribe"]}
    calls = []
    for index, path in enumerate(sorted((FIXTURES / "requests").glob("*.json"))):
        request = fixture_request(f"requests/{path.name}")
        original = request["context"]["patientId"]
        patient = f"pat-recorded-{index:03d}-{original}"
        request = json.loads(json.dumps(request).replace(f'"{original}"', f'"{patient}"')
                             .replace(f"Patient/{original}", f"Patient/{patient}"))
        request["hookInstance"] = str(uuid4())
        request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "scope": "patient/*.read",
                                        "subject": "cds-service"}
        calls += [(service, request) for service in services[request["hook"]]]
    return calls


def _sensitive(request: dict[str, Any]) -> set[str]:
    """What must never be stored of a request: its patient and order ids, names and every free text."""
    found = {request["context"]["patientId"], TOKEN}

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            if value.get("resourceType") in ("MedicationRequest", "Observation", "Condition", "Patient") and \
                    isinstance(value.get("id"), str):
                found.add(value["id"])
            for name, item in value.items():
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and key in FREE_TEXT_KEYS and len(value) >= 4:
            found.add(value)

    walk(request)
    return found


def test_recorded_rows_hold_no_patient_data_and_replay_to_the_live_cards(recording, settings):
    live: dict[tuple[str, str], Counter] = {}
    sensitive: set[str] = set()
    for service, request in _calls():
        answer = recording.post(f"/cds-services/{service}", json=request)
        assert answer.status_code == 200, (service, answer.text)
        live[service, request["context"]["patientId"]] = Counter(
            (c["source"]["topic"]["code"], c["indicator"]) for c in answer.json()["cards"])
        sensitive |= _sensitive(request)
    recording.app.state.card_log.flush()
    engine = recording.app.state.feedback.engine
    rows = table_rows(engine)["recorded_evaluations"]
    assert len(rows) == len(live)
    stored = stored_text(engine)
    leaked = sorted(text for text in sensitive if text in stored)
    assert leaked == []
    assert SCRUBBED in stored
    assert {row["fact_model"] for row in rows} == {fact_model_version()}

    # each row is one call, found by its keyed patient hash: its replay gives that call's cards
    key = (settings.data_dir / KEY_FILE).read_text().strip().encode()
    by_hash = {(service, hmac.new(key, patient.encode(), hashlib.sha256).hexdigest()): cards
               for (service, patient), cards in live.items()}
    corpus = read_recorded(engine, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), 10_000, "test store")
    services = {case.service_id for case in corpus.cases}
    replayed = evaluate(recording.app.state.runtime.current, corpus, {}, datetime.now(UTC))
    assert len(replayed) == len(rows)
    for case in corpus.cases:
        found = replayed[f"{case.ref} [{case.service_id}]"]
        assert found.problem is None
        shown = Counter((rule, card.indicator) for (rule, _), card in found.cards.items() if not card.silent)
        assert shown == by_hash[case.service_id, case.patient], case.ref
        assert sorted([rule, order] for (rule, order) in found.cards) == sorted(
            [rule, order] for rule, _, order, _ in case.cards)
    assert services == {service for service, _ in live}
    assert sum(sum(cards.values()) for cards in live.values()) > 50


def test_the_diff_reads_a_recorded_corpus_and_finds_no_drift(recording, database_url):
    for service, request in _calls()[:40]:
        recording.post(f"/cds-services/{service}", json=request)
    recording.app.state.card_log.flush()
    result = runner.invoke(app, ["rules", "diff", "--base", str(BUNDLED_RULES), "--corpus", database_url,
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["evaluations"] == 40 and report["moved"] == [] and report["problems"] == []
    assert not [w for w in report["warnings"] if "replay to other cards" in w]
    assert all("evaluation " in ref for i in report["impacts"] for refs in i["examples"].values() for ref in refs)


def test_a_corpus_of_another_fact_model_is_refused_naming_what_differs(recording, database_url):
    for service, request in _calls()[:3]:
        recording.post(f"/cds-services/{service}", json=request)
    recording.app.state.card_log.flush()
    older = json.loads(json.dumps(fact_model()))
    older["draft_order"]["dose_mcg"] = "int | None (kept)"
    del older["patient"]["b12_tested"]
    with recording.app.state.feedback.engine.begin() as connection:
        connection.execute(insert(fact_models).values(version="0ld0ld0ld0ld", fields=older))
        connection.execute(update(recorded_evaluations).values(fact_model="0ld0ld0ld0ld"))
    result = runner.invoke(app, ["rules", "diff", "--base", str(BUNDLED_RULES), "--corpus", database_url])
    assert result.exit_code == 2
    assert "another fact model" in result.output and "fact model 0ld0ld0ld0ld: 3 evaluations" in result.output
    assert "draft_order.dose_mcg: recorded int | None (kept)" in result.output
    assert "patient.b12_tested: recorded absent" in result.output


def test_nothing_is_recorded_unless_asked(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    with client:
        client.post("/cds-services/b12-order-sign", json=request)
        client.app.state.card_log.flush()
    assert table_rows(client.app.state.feedback.engine)["recorded_evaluations"] == []
