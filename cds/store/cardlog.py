"""The card log's writer: service calls hand it their cards (and, with CDS_RECORD_FACTS, their evaluation)
and answer at once; one daemon thread writes them to the store in batches and prunes rows past the
retention period.

A call never waits for the store: when the queue is full, or the store refuses a batch, the cards
are dropped, counted (cds_card_log_dropped_total{reason}) and logged, and the call is answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cds.metrics import CARD_LOG_DROPPED, RECORDINGS_DROPPED
from cds.patient_hash import PatientHasher, patient_key
from cds.store.feedback import FeedbackStore
from cds.store.tables import fitted, hour_of, issued_cards

log = logging.getLogger(__name__)

QUEUE_CALLS = 10_000          # calls waiting to be written; beyond this their cards are dropped
BATCH_CALLS = 200             # calls written per transaction at most
PRUNE_EVERY_S = 3600.0
# Feedback stored while its card's batch was in flight (PostgreSQL: neither saw the other) is counted by a
# sweep this long after the batch, over the feedback received this far back; the hourly prune sweeps it all.
SWEEP_AFTER_S = 2.0
SWEEP_RECEIVED_WITHIN = timedelta(minutes=10)
QUEUE_FULL_LOG_EVERY_S = 10.0  # a full queue is logged at most this often (it is counted every time)
_STOP = object()


@dataclass(frozen=True)
class _Call:
    """What one call leaves: its card-log rows, and what makes its evaluation's row (by the writer)."""

    rows: list[dict[str, Any]]
    recording: Callable[[], dict[str, Any]] | None
    service_id: str
    hook_instance: str
    patient_hash: str
    at: datetime

    def evaluation(self) -> dict[str, Any]:
        assert self.recording is not None
        return evaluation_row(self.service_id, self.hook_instance, self.patient_hash, self.recording(), self.at)


def card_rows(service_id: str, hook_instance: str, patient_hash: str, cards: list[dict[str, Any]],
              issued_at: datetime, silent: bool = False) -> list[dict[str, Any]]:
    """The card log's rows for the cards of one call (the EHR's hookInstance made to fit its column:
    one row the store refuses would lose its whole batch); `silent`: cards of silent rules."""
    return [{"card_uuid": card["uuid"], "service_id": service_id, "rule_id": card["source"]["topic"]["code"],
             "pack_version": card.get("extension", {}).get("cobalt-cds", {}).get("packVersion"),
             "indicator": card["indicator"],
             "hook_instance": fitted(hook_instance.replace("\x00", ""), issued_cards.c.hook_instance),
             "patient_hash": patient_hash, "patient_key": patient_key(patient_hash), "issued_at": issued_at,
             "silent": silent}
            for card in cards]


def evaluation_row(service_id: str, hook_instance: str, patient_hash: str, recorded: dict[str, Any],
                   at: datetime) -> dict[str, Any]:
    """The recorded_evaluations row of one call: `recorded` (cds.facts.recorded.recording) with the call's
    service, keyed patient and hour; its id a digest of service, hookInstance and facts (a repeated call
    is recorded once)."""
    digest = hashlib.sha256(json.dumps([service_id, hook_instance, recorded["facts"]], sort_keys=True,
                                       default=str).encode()).hexdigest()[:32]
    return {"evaluation_id": digest, "recorded_at": hour_of(at), "service_id": service_id,
            "patient_hash": patient_hash, "patient_key": patient_key(patient_hash), **recorded}


class CardLogWriter:
    def __init__(self, store: FeedbackStore, hasher: PatientHasher, retention_days: int):
        self._store = store
        self._hash = hasher
        self._retention = timedelta(days=retention_days)
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_CALLS)
        self._thread: threading.Thread | None = None
        self._full_logged_at = float("-inf")

    def submit(self, service_id: str, hook_instance: str, patient_id: str, cards: list[dict[str, Any]],
               silent: list[dict[str, Any]] | None = None,
               recording: Callable[[], dict[str, Any]] | None = None) -> None:
        """Queue one call's cards for the log (the patient id is hashed here), those of silent rules marked;
        with `recording` (called by the writer, off the hot path) the call's evaluation is recorded too.
        Never blocks or raises."""
        if not cards and not silent and recording is None:
            return
        now, patient_hash = datetime.now(UTC), self._hash(patient_id)
        rows = (card_rows(service_id, hook_instance, patient_hash, cards, now)
                + card_rows(service_id, hook_instance, patient_hash, silent or [], now, silent=True))
        try:
            self._queue.put_nowait(_Call(rows, recording, service_id, hook_instance, patient_hash, now))
        except queue.Full:
            CARD_LOG_DROPPED.labels("queue_full").inc(len(rows))
            RECORDINGS_DROPPED.inc(recording is not None)
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
        sweep_at: float | None = None    # when the batches written since the last sweep are swept
        while True:
            try:
                batch = [self._queue.get(timeout=PRUNE_EVERY_S if sweep_at is None
                                         else max(0.0, sweep_at - time.monotonic()))]
            except queue.Empty:
                batch = []
            while batch and batch[-1] is not _STOP and len(batch) < BATCH_CALLS:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            calls = [call for call in batch if call is not _STOP]
            if self._write([row for call in calls for row in call.rows]) and sweep_at is None:
                sweep_at = time.monotonic() + SWEEP_AFTER_S
            if sweep_at is not None and time.monotonic() >= sweep_at:
                self._sweep(datetime.now(UTC) - SWEEP_RECEIVED_WITHIN)
                sweep_at = None
            self._record([call for call in calls if call.recording is not None])
            for _ in batch:
                self._queue.task_done()
            if batch and batch[-1] is _STOP:
                return
            if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                self._prune()
                pruned_at = time.monotonic()

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        """Log the rows; whether any were written."""
        if not rows:
            return False
        try:
            self._store.log_cards(rows)
        except Exception:  # whatever the store or its driver raises, the writer lives on for the next batch
            CARD_LOG_DROPPED.labels("store_error").inc(len(rows))
            log.exception("card log store unavailable: dropped %d issued cards", len(rows))
            return False
        return True

    def _record(self, calls: list[_Call]) -> None:
        if not calls:
            return
        try:
            self._store.log_evaluations([call.evaluation() for call in calls])
        except Exception:  # as _write: the writer lives on
            RECORDINGS_DROPPED.inc(len(calls))
            log.exception("could not record %d evaluations", len(calls))

    def _sweep(self, received_since: datetime) -> None:
        """Count the feedback received since then whose card a writer logged while it was being stored."""
        try:
            late = self._store.tally_late_feedback(received_since)
        except SQLAlchemyError:
            log.exception("could not count feedback whose card was logged after it")
            return
        if late:
            log.info("counted %d feedback entries whose card was logged after them", late)

    def _prune(self) -> None:
        """Count all such feedback within the retention, then prune past it."""
        self._sweep(datetime.now(UTC) - self._retention)
        try:
            cards, answers, evaluations = self._store.prune(self._retention, datetime.now(UTC))
        except SQLAlchemyError:
            log.exception("could not prune the card log")
            return
        if cards or answers or evaluations:
            log.info("pruned %d logged cards, %d feedback entries and %d recorded evaluations older than %d days",
                     cards, answers, evaluations, self._retention.days)
