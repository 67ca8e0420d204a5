"""The card log's writer: service calls hand it their cards and answer at once; one daemon thread
writes them to the store in batches and prunes rows past the retention period.

A call never waits for the store: when the queue is full, or the store refuses a batch, the cards
are dropped, counted (cds_card_log_dropped_total{reason}) and logged, and the call is answered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cds.metrics import CARD_LOG_DROPPED
from cds.patient_hash import PatientHasher, patient_key
from cds.store.feedback import FeedbackStore
from cds.store.tables import fitted, issued_cards

log = logging.getLogger(__name__)

QUEUE_CALLS = 10_000          # calls waiting to be written; beyond this their cards are dropped
BATCH_CALLS = 200             # calls written per transaction at most
PRUNE_EVERY_S = 3600.0
QUEUE_FULL_LOG_EVERY_S = 10.0  # a full queue is logged at most this often (it is counted every time)
_STOP = object()


def card_rows(service_id: str, hook_instance: str, patient_hash: str, cards: list[dict[str, Any]],
              issued_at: datetime) -> list[dict[str, Any]]:
    """The card log's rows for the cards of one call (the EHR's hookInstance made to fit its column:
    one row the store refuses would lose its whole batch)."""
    return [{"card_uuid": card["uuid"], "service_id": service_id, "rule_id": card["source"]["topic"]["code"],
             "pack_version": card.get("extension", {}).get("cobalt-cds", {}).get("packVersion"),
             "indicator": card["indicator"],
             "hook_instance": fitted(hook_instance.replace("\x00", ""), issued_cards.c.hook_instance),
             "patient_hash": patient_hash, "patient_key": patient_key(patient_hash), "issued_at": issued_at}
            for card in cards]


class CardLogWriter:
    def __init__(self, store: FeedbackStore, hasher: PatientHasher, retention_days: int):
        self._store = store
        self._hash = hasher
        self._retention = timedelta(days=retention_days)
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_CALLS)
        self._thread: threading.Thread | None = None
        self._full_logged_at = float("-inf")

    def submit(self, service_id: str, hook_instance: str, patient_id: str, cards: list[dict[str, Any]]) -> None:
        """Queue one call's cards for the log (the patient id is hashed here); never blocks or raises."""
        if not cards:
            return
        rows = card_rows(service_id, hook_instance, self._hash(patient_id), cards, datetime.now(UTC))
        try:
            self._queue.put_nowait(rows)
        except queue.Full:
            CARD_LOG_DROPPED.labels("queue_full").inc(len(rows))
            if time.monotonic() - self._full_logged_at >= QUEUE_FULL_LOG_EVERY_S:
                self._full_logged_at = time.monotonic()
                log.error("card log queue full (%d calls): dropping issued cards until the store catches up",
                          QUEUE_CALLS)

    def start(self) -> None:
        """Start the writer thread (it prunes first)."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="card-log-writer")
        self._thread.start()

    def flush(self) -> None:
        """Wait until every queued call has been written or dropped (the writer must be running)."""
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the card log writer is not running")
        self._queue.join()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the thread (app shutdown)."""
        if self._thread is None or not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:  # the store is too slow to take even the backlog: what is queued is lost
            log.error("card log writer still behind at shutdown: %d queued calls not logged", self._queue.qsize())
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        self._prune()
        pruned_at = time.monotonic()
        while True:
            try:
                batch = [self._queue.get(timeout=PRUNE_EVERY_S)]
            except queue.Empty:
                batch = []
            while batch and batch[-1] is not _STOP and len(batch) < BATCH_CALLS:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write([row for rows in batch if rows is not _STOP for row in rows])
            for _ in batch:
                self._queue.task_done()
            if batch and batch[-1] is _STOP:
                return
            if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                self._prune()
                pruned_at = time.monotonic()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            self._store.log_cards(rows)
        except Exception:  # whatever the store or its driver raises, the writer lives on for the next batch
            CARD_LOG_DROPPED.labels("store_error").inc(len(rows))
            log.exception("card log store unavailable: dropped %d issued cards", len(rows))

    def _prune(self) -> None:
        try:
            cards, answers = self._store.prune(self._retention, datetime.now(UTC))
        except SQLAlchemyError:
            log.exception("could not prune the card log")
            return
        if cards or answers:
            log.info("pruned %d logged cards and %d feedback entries older than %d days",
                     cards, answers, self._retention.days)
