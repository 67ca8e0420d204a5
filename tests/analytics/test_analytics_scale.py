"""Analytics at scale: the hourly tally and the feedback rows' card times give the same figures as the
card log itself for any period, a 0003 database is brought up to them, the queries use their
indexes (SQLite query plans), and a seeded card log is reported within a second.

The million-card measurement is `python -m bench.analytics_load [URL]` (docs/security.md has the figures).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text

from bench.analytics_load import seed
from cds.analytics.figures import AnalyticsQuery
from cds.analytics.queries import build_report
from cds.patient_hash import patient_key
from cds.store.feedback import FeedbackStore
from cds.store.tables import card_hours, feedback, issued_cards
from tests.stores import database_at, sqlite_plans

NOW = datetime(2026, 12, 6, 12, 30, 15, tzinfo=UTC)


def _raw_firing(store: FeedbackStore, since: datetime, until: datetime) -> dict[str, Counter[str]]:
    """Cards per rule and UTC day, counted from the card log's rows one by one."""
    counted: dict[str, Counter[str]] = {}
    with store.engine.connect() as connection:
        for rule, issued in connection.execute(select(issued_cards.c.rule_id, issued_cards.c.issued_at)):
            issued = issued.replace(tzinfo=UTC) if issued.tzinfo is None else issued.astimezone(UTC)
            if since <= issued < until:
                counted.setdefault(rule, Counter())[issued.date().isoformat()] += 1
    return counted


def test_the_tally_gives_the_card_logs_own_counts_for_any_period(database_url):
    store = FeedbackStore(database_url)
    seed(store, 3000, days=3, now=NOW)
    seed(store, 200, days=3, now=NOW, answered=0.0)   # the same uuids again: logged once, tallied once
    rng = random.Random(11)
    periods = [(NOW - timedelta(days=4), NOW)] + [
        tuple(sorted(NOW - timedelta(seconds=rng.random() * 3.5 * 86400) for _ in range(2))) for _ in range(8)]
    for since, until in periods:
        report = build_report(store.engine, AnalyticsQuery(since, until))
        got = {rule.rule_id: Counter({day.day.isoformat(): day.count for day in rule.firing_by_day})
               for rule in report.rules}
        assert got == _raw_firing(store, since, until), (since, until)
        assert all(rule.fired == sum(day.count for day in rule.firing_by_day) for rule in report.rules)


def test_a_0003_database_gets_its_tally_and_its_feedback_card_times(database_url):
    engine = database_at(database_url, "0003")
    issued = datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(insert(issued_cards), [
            {"card_uuid": f"c-{i}", "service_id": "b12-order-sign", "rule_id": "units.mg-mcg-confusion",
             "pack_version": None if i else "1", "issued_at": issued + timedelta(minutes=20 * i)} for i in range(4)])
        connection.execute(text("INSERT INTO feedback (card_uuid, outcome, service_id, known_card, received_at) "
                                "VALUES ('c-1', 'accepted', 'b12-order-sign', 'yes', :at), "
                                "('gone', 'accepted', 'b12-order-sign', 'no', :at)"), {"at": NOW})
    engine.dispose()
    store = FeedbackStore(database_url)
    with store.engine.connect() as connection:
        tally = sorted((row.hour.replace(tzinfo=None), row.pack_version, row.cards)
                       for row in connection.execute(select(card_hours)))
        times = dict(connection.execute(select(feedback.c.card_uuid, feedback.c.card_issued_at)).all())
    assert tally == [(datetime(2026, 11, 20, 8), "", 2), (datetime(2026, 11, 20, 8), "1", 1),
                     (datetime(2026, 11, 20, 9), "", 1)]
    assert times["c-1"].replace(tzinfo=None) == datetime(2026, 11, 20, 8, 35) and times["gone"] is None


def test_the_queries_use_their_indexes(tmp_path):
    """SQLite's own query plans: the period's whole hours from the tally by hour, its partial hours from
    the card log by issue time and their feedback by card (never a walk of every card or feedback)."""
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    seed(store, 2000, days=30, now=NOW)
    with sqlite_plans(store.engine, "SELECT", "WITH") as plans:
        build_report(store.engine, AnalyticsQuery(NOW - timedelta(days=30), NOW))
    text_of = "\n".join(plans)
    assert "SEARCH card_hours USING INDEX sqlite_autoindex_card_hours_1 (hour>? AND hour<?)" in text_of
    assert "SEARCH issued_cards USING INDEX ix_issued_cards_issued_at (issued_at>? AND issued_at<?)" in text_of
    assert "SEARCH feedback USING INDEX sqlite_autoindex_feedback_1 (card_uuid=?)" in text_of
    assert "SCAN issued_cards" not in text_of and "SCAN feedback" not in text_of


@pytest.mark.usefixtures("settled_heap")   # timed
@pytest.mark.parametrize("cards", [50_000])
def test_a_seeded_card_log_is_reported_within_a_second(database_url, cards):
    store = FeedbackStore(database_url)
    seed(store, cards, days=30, now=NOW)
    began = time.monotonic()
    report = build_report(store.engine, AnalyticsQuery(NOW - timedelta(days=31), NOW))
    assert time.monotonic() - began < 1.0
    assert sum(rule.fired for rule in report.rules) == cards


def test_a_0003_database_gets_patient_keys_and_counts_patients_by_them(database_url):
    engine = database_at(database_url, "0003")
    hashes = [f"{n:x}".ljust(64, "a") for n in range(5)]
    with engine.begin() as connection:
        connection.execute(insert(issued_cards), [
            {"card_uuid": f"c-{i}", "service_id": "b12-order-sign", "rule_id": "units.mg-mcg-confusion",
             "issued_at": NOW - timedelta(hours=i), "patient_hash": hashes[i % 3]} for i in range(6)])
    engine.dispose()
    store = FeedbackStore(database_url)
    with store.engine.connect() as connection:
        keys = dict(connection.execute(select(issued_cards.c.card_uuid, issued_cards.c.patient_key)).all())
    assert keys == {f"c-{i}": patient_key(hashes[i % 3]) for i in range(6)}
    report = build_report(store.engine, AnalyticsQuery(NOW - timedelta(days=1), NOW + timedelta(hours=1)))
    assert [(rule.fired, rule.patients) for rule in report.rules] == [(6, 3)]
