"""The hourly tally (cds.store.tally) against the raw log, on SQLite and PostgreSQL: kept as cards are
logged and feedback stored in any order, it is what a rebuild from the log makes; and a report read
from it gives, for any period and filter, the figures counted card by card from the log itself."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from cds.analytics.figures import AnalyticsQuery
from cds.analytics.queries import build_report
from cds.patient_hash import patient_key
from cds.store import tally
from cds.store.database import insert_ignoring_duplicates
from cds.store.feedback import FeedbackRequest, FeedbackStore
from cds.store.tables import as_utc, card_hours, feedback, hour_of, issued_cards
from tests.stores import database_at, sqlite_plans

NOW = datetime(2026, 12, 6, 12, 30, 15, tzinfo=UTC)
SERVICES = ["b12-order-sign", "b12-label-check"]
RULES = ["units.mg-mcg-confusion", "deficiency.neuro-urgent-loading", "escalation.early-refill"]
VERSIONS = ["2026-11-30+abc1234", "2026-12-05+def5678", None]
REASONS = [("urn:cobalt-cds:override-reason", "dose-intended", "Dose intended"),
           ("urn:cobalt-cds:override-reason", "specialist-advice", None), (None, "not-applicable", "N/A")]


def _card(rng: random.Random, index: int) -> dict[str, Any]:
    hashed = f"{rng.randrange(40):064x}"
    return {"card_uuid": f"card-{index}", "service_id": rng.choice(SERVICES), "rule_id": rng.choice(RULES),
            "pack_version": rng.choice(VERSIONS), "indicator": "warning", "hook_instance": f"h-{index}",
            "issued_at": NOW - timedelta(seconds=rng.random() * 3 * 86400), "patient_hash": hashed,
            "patient_key": patient_key(hashed), "silent": rng.random() < 0.15}


def _item(rng: random.Random, card: dict[str, Any], outcome: str) -> dict[str, Any]:
    outcome_at = card["issued_at"] + timedelta(seconds=rng.uniform(-5, 4000))
    item: dict[str, Any] = {"card": card["card_uuid"], "outcome": outcome, "outcomeTimestamp": outcome_at.isoformat()}
    if outcome == "overridden" and rng.random() < 0.8:
        system, code, display = rng.choice(REASONS)
        item["overrideReason"] = {"reason": {key: value for key, value in
                                             (("system", system), ("code", code), ("display", display)) if value}}
    return item


def _store(store: FeedbackStore, service: str, *items: dict[str, Any]) -> None:
    store.store(service, FeedbackRequest.model_validate({"feedback": list(items)}))


def _busy_store(url: str, seed: int) -> FeedbackStore:
    """A store written the ways the service writes it, in a random order: cards logged in batches (some
    again), feedback on logged cards (a second outcome, sometimes earlier than the first), feedback
    before its card, feedback for another service's card, and feedback a concurrent writer left uncounted."""
    store, rng = FeedbackStore(url), random.Random(seed)
    cards = [_card(rng, index) for index in range(600)]
    logged: list[dict[str, Any]] = []
    for start in range(0, len(cards), 50):
        batch = cards[start:start + 50]
        for card in rng.sample(batch, 5):        # feedback that comes before its card is logged
            _store(store, card["service_id"], _item(rng, card, rng.choice(["accepted", "overridden"])))
        store.log_cards(batch + rng.sample(logged, min(5, len(logged))))   # repeated cards are logged once
        logged += batch
        for card in rng.sample(logged, 30):
            outcomes = rng.sample(["accepted", "overridden"], rng.choice([1, 2]))
            _store(store, card["service_id"], *(_item(rng, card, outcome) for outcome in outcomes))
        other = rng.choice(logged)
        _store(store, next(s for s in SERVICES if s != other["service_id"]), _item(rng, other, "accepted"))
    late = rng.sample(logged, 10)
    with store.engine.begin() as connection:     # as a writer leaves feedback whose card it could not see yet
        added = insert_ignoring_duplicates(connection.dialect.name, feedback).returning(feedback.c.card_uuid)
        left = connection.execute(added, [
            {"card_uuid": card["card_uuid"], "outcome": "overridden", "service_id": card["service_id"],
             "known_card": "no", "received_at": NOW, "outcome_at": card["issued_at"]} for card in late]).all()
    assert store.tally_late_feedback(NOW - timedelta(days=1)) == len(left) > 0   # only those: the rest was counted
    return store


def _tallies(store: FeedbackStore) -> dict[tally.HourKey, dict[str, Any]]:
    with store.engine.connect() as connection:
        return {(hour_of(row.hour), row.service_id, row.rule_id, row.pack_version, bool(row.silent)):
                tally.Tally.from_stored(row).stored() for row in connection.execute(select(card_hours))}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_kept_tally_is_the_one_rebuilt_from_the_log(database_url, seed):
    store = _busy_store(database_url, seed)
    kept = _tallies(store)
    with store.engine.begin() as connection:
        tally.rebuild(connection)
    rebuilt = _tallies(store)
    assert kept == rebuilt
    assert sum(row["accepted"] + row["overridden"] for row in kept.values()) > 300


def _raw_figures(store: FeedbackStore, query: AnalyticsQuery) -> dict[str, dict[str, Any]]:
    """Each rule's figures counted card by card: cards in the period and filters, and the feedback that
    names them (same uuid and service), whenever it was stored."""
    with store.engine.connect() as connection:
        cards = {row["card_uuid"]: row for row in connection.execute(select(issued_cards)).mappings()}
        answers = list(connection.execute(select(feedback)).mappings())
    chosen = {uuid: card for uuid, card in cards.items()
              if query.since <= as_utc(card["issued_at"]) < query.until
              and query.service in (None, card["service_id"])
              and query.pack_version in (None, card["pack_version"])}
    figures: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "fired": 0, "patients": set(), "silent_fired": 0, "silent_patients": set(), "accepted": 0, "overridden": 0,
        "reasons": Counter(), "first": {}})
    for card in chosen.values():
        rule = figures[card["rule_id"]]
        rule["silent_fired" if card["silent"] else "fired"] += 1
        rule["silent_patients" if card["silent"] else "patients"].add(card["patient_key"])
    for answer in answers:
        card = chosen.get(answer["card_uuid"])
        if card is None or card["service_id"] != answer["service_id"]:
            continue
        rule = figures[card["rule_id"]]
        rule[answer["outcome"]] += 1
        if answer["outcome"] == "overridden" and answer["override_code"]:
            rule["reasons"][answer["override_code"]] += 1
        delay = (as_utc(answer["outcome_at"]) - as_utc(card["issued_at"])).total_seconds()
        rule["first"][card["card_uuid"]] = min(delay, rule["first"].get(card["card_uuid"], delay))
    return {rule_id: {"fired": rule["fired"], "patients": len(rule["patients"]), "silent_fired": rule["silent_fired"],
                      "silent_patients": len(rule["silent_patients"]),
                      "accepted": rule["accepted"], "overridden": rule["overridden"], "reasons": dict(rule["reasons"]),
                      "median": round(statistics.median(rule["first"].values()), 3) if rule["first"] else None}
            for rule_id, rule in figures.items()}


def test_a_report_gives_the_logs_own_figures_for_any_period_and_filter(database_url):
    store = _busy_store(database_url, 3)
    rng = random.Random(5)
    queries = [AnalyticsQuery(NOW - timedelta(days=4), NOW + timedelta(hours=1))] + [
        AnalyticsQuery(*sorted(NOW - timedelta(seconds=rng.random() * 3.2 * 86400) for _ in range(2)),
                       service=rng.choice([None, *SERVICES]), pack_version=rng.choice([None, VERSIONS[0]]))
        for _ in range(10)]
    for query in queries:
        report = {rule.rule_id: {"fired": rule.fired, "patients": rule.patients, "silent_fired": rule.silent_fired,
                                 "silent_patients": rule.silent_patients,
                                 "accepted": rule.accepted, "overridden": rule.overridden,
                                 "reasons": {reason.code: reason.count for reason in rule.top_override_reasons},
                                 "median": rule.median_seconds_to_feedback}
                  for rule in build_report(store.engine, query).rules}
        raw = _raw_figures(store, query)
        for figures in report.values():     # a median to the millisecond, as the tally keeps delays
            figures["median"] = figures["median"] and pytest.approx(figures["median"], abs=0.0011)
        assert report == raw, query


def test_a_0005_database_is_tallied_in_full_on_upgrade(database_url):
    """Cards and feedback as revision 0005 left them (feedback on a card logged after it without the card's
    details; the tally with card counts only): the upgrade counts patients, outcomes, reasons and delays."""
    rng = random.Random(9)
    cards = [_card(rng, index) for index in range(300)]
    engine = database_at(database_url, "0005")
    with engine.begin() as connection:
        connection.execute(insert(issued_cards), cards)
        connection.execute(insert(card_hours), [
            {"hour": hour, "service_id": service, "rule_id": rule, "pack_version": pack, "silent": silent, "cards": n}
            for (hour, service, rule, pack, silent), n in Counter(map(tally.hour_key, cards)).items()])
        connection.execute(insert(feedback), [
            {"card_uuid": card["card_uuid"], "outcome": outcome, "service_id": card["service_id"],
             "known_card": "yes" if index % 3 else "no", "received_at": NOW,
             "card_issued_at": card["issued_at"] if index % 3 else None,
             "outcome_at": card["issued_at"] + timedelta(seconds=rng.uniform(0, 900)),
             "override_code": "dose-intended" if outcome == "overridden" else None}
            for index, card in enumerate(cards[:120]) for outcome in ("accepted", "overridden")[:1 + index % 2]])
    engine.dispose()
    store = FeedbackStore(database_url)
    query = AnalyticsQuery(NOW - timedelta(days=4), NOW + timedelta(hours=1))
    report = {rule.rule_id: (rule.fired, rule.patients, rule.accepted, rule.overridden,
                             {reason.code: reason.count for reason in rule.top_override_reasons},
                             rule.median_seconds_to_feedback) for rule in build_report(store.engine, query).rules}
    raw = {rule_id: (rule["fired"], rule["patients"], rule["accepted"], rule["overridden"], rule["reasons"],
                     rule["median"]) for rule_id, rule in _raw_figures(store, query).items()}
    assert report.keys() == raw.keys() and sum(answers[2] + answers[3] for answers in report.values()) == 180
    for rule_id, (*counts, median) in report.items():
        assert counts == list(raw[rule_id][:5]) and median == pytest.approx(raw[rule_id][5], abs=0.0011)


def test_claiming_early_feedback_reads_only_what_it_may_claim(settings):
    """SQLite's own plans: the hourly sweep reads the partial index of unclaimed feedback, and a card batch
    its cards' feedback by card, never a walk of the retention window's feedback (the sweep holds SQLite's
    write lock, and that walk grew with the hospital)."""
    store = _busy_store(settings.feedback_url(), seed=3)
    with sqlite_plans(store.engine, "UPDATE FEEDBACK") as plans:
        store.tally_late_feedback(NOW - timedelta(days=400))
        store.log_cards([_card(random.Random(4), 10_000)])
    sweep, batch = plans
    assert "SEARCH feedback USING INDEX ix_feedback_unclaimed (received_at>?)" in sweep
    assert "SEARCH feedback USING INDEX sqlite_autoindex_feedback_1 (card_uuid=?)" in batch
    assert "SCAN feedback" not in sweep + batch
