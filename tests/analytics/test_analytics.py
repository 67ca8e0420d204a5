"""The analytics API and export over a store seeded by real fixture calls and feedback posts, on
SQLite and PostgreSQL: counts, distinct patients, rates, reasons, median time to feedback, filters."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from cds.api import create_app
from cds.cli import app as cli
from cds.runtime import RuleRuntime
from cds.store.tables import as_utc, issued_cards
from tests.conftest import edit_file, fixture_request
from tests.jwt_helpers import PUBLIC_URL, Signer, assert_refused, claims, file_issuer, jwt_settings
from tests.stores import stored_text

MG_MCG, NOT_CONFIRMED, LAB_UNITS = "units.mg-mcg-confusion", "deficiency.not-confirmed", "units.lab-unit-implausible"
DUPLICATE = "escalation.duplicate-draft"
REASON = "urn:cobalt-cds:override-reason"
NEW_UNITS_VERSION = "2026-12-01"
API = "/analytics/api/rules"
SIGN, VIEW = "b12-order-sign", "b12-patient-view"
CALLS = [(SIGN, "unit-error-1000mg.json"), (SIGN, "unit-error-1000mg.json"),  # a repeat: the same card again
         (SIGN, "label-no-route-1000mg.json"), (SIGN, "label-published-shape-1000mg.json"),
         (SIGN, "no-labs-im-draft.json"), (SIGN, "entered-in-error-im-draft.json"),
         (SIGN, "label-lab-units-im-draft.json"), (VIEW, "label-lab-units-view.json")]


@dataclass
class Issued:
    service: str
    card: dict[str, Any]
    at: datetime            # as logged


@dataclass
class Seeded:
    client: TestClient
    url: str
    period: dict[str, str]                 # since and until, covering every card of the run
    days: dict[str, list[date]]            # by rule: the UTC days its cards were logged on


def _call(client: TestClient, service: str, fixture: str, hook_instance: str | None = None) -> list[dict]:
    request = fixture_request(f"requests/{fixture}")
    request["hookInstance"] = hook_instance or request["hookInstance"]
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200
    return response.json()["cards"]


def _feedback(client: TestClient, issued: Issued, outcome: str, after_s: float, code: str | None = None) -> None:
    """Feedback on a card, its outcome `after_s` seconds after the card was logged."""
    item: dict[str, Any] = {"card": issued.card["uuid"], "outcome": outcome,
                            "outcomeTimestamp": (issued.at + timedelta(seconds=after_s)).isoformat()}
    if code:
        item["overrideReason"] = {"reason": {"system": REASON, "code": code, "display": code.title()},
                                  "userComment": "free text"}
    response = client.post(f"/cds-services/{issued.service}/feedback", json={"feedback": [item]})
    assert response.json() == {"stored": 1, "alreadyStored": 0}


def _logged(client: TestClient, calls: list[tuple[str, dict]]) -> dict[str, list[Issued]]:
    """The calls' cards by rule, each once, with the time the log gave it."""
    client.app.state.card_log.flush()
    with client.app.state.feedback.engine.connect() as connection:
        times = dict(connection.execute(select(issued_cards.c.card_uuid, issued_cards.c.issued_at)).all())
    unique = {card["uuid"]: (service, card) for service, card in calls}
    by_rule: dict[str, list[Issued]] = {}
    for uuid, (service, card) in sorted(unique.items()):
        by_rule.setdefault(card["source"]["topic"]["code"], []).append(Issued(service, card, as_utc(times[uuid])))
    return by_rule


@pytest.fixture
def seeded(settings, runtime, database_url, rules_copy) -> Iterator[Seeded]:
    """The CALLS, plus one call on an app whose units pack has a new version (same store); then
    feedback on some of the cards and on a card never issued."""
    settings = settings.model_copy(update={"database_url": database_url})
    edit_file(rules_copy / "packs" / "units.yaml", 'version: "2026-12-06"', f'version: "{NEW_UNITS_VERSION}"')
    with TestClient(create_app(settings, RuleRuntime(rules_copy))) as newer:
        newer_cards = [(SIGN, c) for c in _call(newer, SIGN, "unit-error-1000mg.json", "another-hook-instance")]
    with TestClient(create_app(settings, runtime)) as client:
        calls = [(service, card) for service, fixture in CALLS for card in _call(client, service, fixture)]
        logged = _logged(client, calls + newer_cards)
        mg = [issued for issued in logged[MG_MCG] if issued.service == SIGN and
              issued.card["extension"]["cobalt-cds"]["packVersion"].split("+")[0] != NEW_UNITS_VERSION]
        assert len(mg) == 4
        _feedback(client, mg[0], "overridden", 30, "dose-intended")
        _feedback(client, mg[0], "accepted", 900)  # a change of mind: the first answer gives the delay
        _feedback(client, mg[1], "overridden", 90, "dose-intended")
        _feedback(client, mg[2], "overridden", 120, "specialist-advice")
        _feedback(client, mg[3], "accepted", 600)
        _feedback(client, logged[NOT_CONFIRMED][0], "accepted", 60)
        response = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [
            {"card": "never-issued", "outcome": "overridden", "outcomeTimestamp": "2026-11-30T10:00:00Z"}]})
        assert response.json()["stored"] == 1
        first = min(issued.at for cards in logged.values() for issued in cards)
        yield Seeded(client, database_url, {"since": str(first.date() - timedelta(days=1)),
                                            "until": str(datetime.now(UTC).date())},
                     {rule: sorted({i.at.date() for i in cards}) for rule, cards in logged.items()})


def test_the_store_holds_no_patient_id(seeded):
    stored = stored_text(seeded.client.app.state.feedback.engine)
    patients = {fixture_request(f"requests/{fixture}")["context"]["patientId"] for _, fixture in CALLS}
    assert len(patients) == 4
    assert [patient for patient in patients if patient in stored] == []
    assert "free text" not in stored  # the override comments


def _figures(rule: dict) -> tuple:
    return (rule["rule_id"], rule["fired"], rule["patients"], rule["accepted"], rule["overridden"],
            rule["accept_rate"], rule["override_rate"],
            [(r["system"], r["code"], r["display"], r["count"]) for r in rule["top_override_reasons"]],
            rule["median_seconds_to_feedback"])


def test_per_rule_figures(seeded):
    response = seeded.client.get(API, params=seeded.period)
    assert response.status_code == 200
    rules = response.json()["rules"]
    assert [_figures(rule) for rule in rules] == [
        (LAB_UNITS, 6, 1, 0, 0, 0.0, 0.0, [], None),   # 3 cards on each of two services, one patient
        (MG_MCG, 5, 1, 2, 3, 2 / 5, 3 / 5, [(REASON, "dose-intended", "Dose-Intended", 2),
                                            (REASON, "specialist-advice", "Specialist-Advice", 1)], 105.0),
        (NOT_CONFIRMED, 3, 3, 1, 0, 1 / 3, 0.0, [], 60.0),
        (DUPLICATE, 1, 1, 0, 0, 0.0, 0.0, [], None)]   # the published shape's two identical drafts
    for rule in rules:
        days = rule["firing_by_day"]
        assert [date.fromisoformat(d["day"]) for d in days] == seeded.days[rule["rule_id"]]
        assert sum(d["count"] for d in days) == rule["fired"]


def test_filters_by_service_and_pack_version(seeded):
    def figures(**filters: str) -> list[tuple]:
        body = seeded.client.get(API, params={**seeded.period, **filters}).json()
        assert {k: body["query"][k] for k in filters} == filters
        return [(r["rule_id"], r["fired"], r["accepted"], r["overridden"]) for r in body["rules"]]

    assert figures(service=SIGN) == [(MG_MCG, 5, 2, 3), (NOT_CONFIRMED, 3, 1, 0), (LAB_UNITS, 3, 0, 0),
                                     (DUPLICATE, 1, 0, 0)]
    assert figures(service=VIEW) == [(LAB_UNITS, 3, 0, 0)]
    assert figures(pack_version=NEW_UNITS_VERSION) == [(MG_MCG, 1, 0, 0)]   # the declared version: any content
    assert figures(pack_version=NEW_UNITS_VERSION[:7]) == []                # not a loose prefix
    assert figures(service=VIEW, pack_version=NEW_UNITS_VERSION) == []
    assert figures(service="b12-label-check") == []


def test_the_period_selects_by_issue_time_and_defaults_to_the_last_30_days(seeded):
    everything = seeded.client.get(API, params=seeded.period).json()["rules"]
    assert seeded.client.get(API).json()["rules"] == everything
    tomorrow = str(datetime.now(UTC).date() + timedelta(days=1))
    assert seeded.client.get(API, params={"since": tomorrow, "until": tomorrow}).json()["rules"] == []
    assert seeded.client.get(API, params={"until": seeded.period["since"]}).json()["rules"] == []


def test_the_export_prints_what_the_api_answers(seeded):
    api = seeded.client.get(API, params={**seeded.period, "service": SIGN}).json()
    options = ["analytics", "export", "--since", seeded.period["since"], "--until", seeded.period["until"],
               "--service", SIGN]
    runner, env = CliRunner(), {"CDS_DATABASE_URL": seeded.url}
    exported = runner.invoke(cli, [*options, "--format", "json"], env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout) == api
    table = runner.invoke(cli, [*options, "--format", "csv"], env=env)
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [(r["rule_id"], int(r["fired"]), int(r["patients"]), int(r["accepted"]), int(r["overridden"]),
             float(r["accept_rate"]), float(r["override_rate"])) for r in rows] == [
        (r["rule_id"], r["fired"], r["patients"], r["accepted"], r["overridden"], r["accept_rate"],
         r["override_rate"]) for r in api["rules"]]
    assert rows[0]["top_override_reasons"] == "dose-intended=2; specialist-advice=1"
    assert rows[0]["median_seconds_to_feedback"] == "105.0"


def test_export_refuses_a_bad_date(tmp_path):
    result = CliRunner().invoke(cli, ["analytics", "export", "--since", "30/11/2026"],
                                env={"CDS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "--since" in result.stderr


@pytest.mark.parametrize("params, field", [({"since": "yesterday"}, "since"), ({"until": "2026-13-01"}, "until"),
                                           ({"since": "2026-11-30", "until": "2026-11-01"}, "since"),
                                           ({"service": "b12\x00"}, "service"),
                                           ({"pack_version": "1\x00"}, "pack_version")])
def test_bad_dates_and_filters_are_400_in_the_error_shape(client, params, field):
    response = client.get(API, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid analytics query"
    assert [d["field"] for d in body["detail"]] == [field]


def test_feedback_that_arrives_before_its_card_is_logged_still_counts(settings, runtime):
    app = create_app(settings, runtime)
    early = TestClient(app)  # no lifespan: the writer has not started, the card waits in its queue
    [card] = _call(early, SIGN, "unit-error-1000mg.json")
    early.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [
        {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": datetime.now(UTC).isoformat()}]})
    assert [row["known_card"] for row in app.state.feedback.rows()] == ["no"]
    with TestClient(app) as client:
        client.app.state.card_log.flush()
        rules = client.get(API).json()["rules"]
    assert [(r["rule_id"], r["fired"], r["accepted"]) for r in rules] == [(MG_MCG, 1, 1)]


def test_analytics_need_a_token_for_the_analytics_audience_when_auth_is_on(tmp_path, runtime):
    signer = Signer.es384()
    client = TestClient(create_app(jwt_settings(tmp_path, file_issuer(tmp_path, signer)), runtime))
    assert_refused(client.get(API), challenge="Bearer")
    assert_refused(client.get(API, headers={"Authorization": f"Bearer {signer.token()}"}))  # a service's aud
    token = signer.token(claims(aud=f"{PUBLIC_URL}/analytics"))
    assert client.get(API, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_openapi_documents_the_analytics_api(client):
    operation = client.get("/openapi.json").json()["paths"][API]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"since", "until", "service", "pack_version"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/AnalyticsReport")
    assert {"400", "401", "503"} <= set(operation["responses"])


def test_figures_are_read_while_the_store_is_being_written(client):
    with client.app.state.feedback.engine.begin():  # a writer's transaction (on SQLite it holds the write lock)
        response = client.get(API)
    assert response.status_code == 200
