"""Seed a card log with a million cards in one period (SQLite or PostgreSQL) and time /analytics'
report on it: `python -m bench.analytics_load [DATABASE_URL] [--cards N]` (default: a SQLite file
in a temporary directory, 1,000,000 cards over 30 days, 10% with feedback)."""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import insert

from cds.analytics.period import analytics_query
from cds.analytics.queries import build_report
from cds.patient_hash import patient_key
from cds.store.feedback import FeedbackStore
from cds.store.tables import feedback

RULES = [f"pack{p}.rule-{r}" for p in range(8) for r in range(4)]
SERVICES = ["b12-order-sign", "b12-order-select", "b12-label-check", "b12-patient-view"]
REASONS = ["dose-intended", "specialist-advice", "not-applicable", "patient-declined"]
BATCH = 20_000


def seed(store: FeedbackStore, cards: int, days: int, now: datetime, answered: float = 0.1) -> None:
    """`cards` card-log rows spread over the `days` before `now`, a share of them with feedback."""
    rng = random.Random(7)
    for start in range(0, cards, BATCH):
        rows: list[dict[str, Any]] = []
        answers: list[dict[str, Any]] = []
        for index in range(start, min(start + BATCH, cards)):
            uuid = str(UUID(int=index))
            issued = now - timedelta(seconds=rng.random() * days * 86400)
            service = SERVICES[index % len(SERVICES)]
            rows.append({"card_uuid": uuid, "service_id": service, "rule_id": RULES[index % len(RULES)],
                         "pack_version": "2026-11-30+abc1234", "issued_at": issued, "indicator": "warning",
                         "hook_instance": f"h-{index}", "patient_hash": (hashed := _patient(rng.randrange(50_000))),
                         "patient_key": patient_key(hashed)})
            if rng.random() < answered:
                outcome = "overridden" if rng.random() < 0.6 else "accepted"
                answers.append({"card_uuid": uuid, "outcome": outcome, "service_id": service,
                                "known_card": "no", "received_at": issued + timedelta(seconds=90),
                                "outcome_at": issued + timedelta(seconds=rng.randrange(5, 600)),
                                "override_system": "urn:cobalt-cds:override-reason" if outcome != "accepted" else None,
                                "override_code": rng.choice(REASONS) if outcome != "accepted" else None,
                                "override_display": None, "accepted_suggestions": None, "comment_given": False})
        if answers:   # stored before their cards are logged, so that logging them tallies them too
            with store.engine.begin() as connection:
                connection.execute(insert(feedback), answers)
        store.log_cards(rows)                          # as the card log's writer does: rows and hourly tally


def _patient(number: int) -> str:
    """A patient hash as the service makes them: 64 hex digits, uniformly spread."""
    return hashlib.sha256(f"patient-{number}".encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", nargs="?")
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='cds-analytics-')) / 'feedback.db'}"
    store = FeedbackStore(url)
    now = datetime.now(UTC)
    began = time.monotonic()
    seed(store, args.cards, args.days, now)
    print(f"seeded {args.cards} cards in {time.monotonic() - began:.0f} s ({store.engine.dialect.name})")
    query = analytics_query(since=(now - timedelta(days=args.days + 1)).isoformat(), until=now.isoformat())
    times = []
    for _ in range(3):
        began = time.monotonic()
        report = build_report(store.engine, query)
        times.append(time.monotonic() - began)
    print(f"report over {sum(rule.fired for rule in report.rules)} cards: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
