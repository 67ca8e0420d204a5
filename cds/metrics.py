"""Prometheus metrics shared by the HTTP layer and the FHIR layer.

With several worker processes (`cds serve --workers N`) each keeps its values in files of one
directory made for the run (prometheus_client's multiprocess mode), and a scrape of any worker
sums the counters and histograms of all of them: one scrape counts every call."""

import atexit
import os
import shutil
import tempfile
from collections.abc import Container, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"   # prometheus_client reads it when it is first imported

REQUESTS = Counter("cds_requests_total", "Service calls by service and HTTP status", ["service", "status"])
LATENCY = Histogram("cds_request_seconds", "Service call latency", ["service"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0))
CARDS = Counter("cds_cards_total", "Cards returned by rule and indicator", ["rule", "indicator"])
SKIPPED_RESOURCES = Counter("cds_fhir_resources_skipped_total",
                            "FHIR resources skipped because they failed validation", ["source", "resource_type"])
PREFETCH_CAPPED = Counter("cds_prefetch_capped_total",
                          "Prefetch searches cut to the newest resources at the per-search cap", ["key"])
FHIR_FETCHES = Counter("cds_fhir_fetch_total", "FHIR server searches by prefetch key and outcome",
                       ["key", "outcome"])
INCOMPLETE = Counter("cds_evaluations_incomplete_total", "Evaluations cut short by the deadline")
RULES_LOADED = Gauge("cds_rules_loaded", "Rules currently loaded (per worker process: label pid with several)",
                     multiprocess_mode="liveall")
RELOADS = Counter("cds_rule_reloads_total", "Rule reload attempts by outcome", ["outcome"])
FEEDBACK = Counter("cds_feedback_total", "Feedback entries stored by outcome", ["outcome"])
CARD_LOG_DROPPED = Counter("cds_card_log_dropped_total", "Issued cards not written to the card log, by reason "
                           "(queue_full: the writer is behind; store_error: the store refused the batch)", ["reason"])
RECORDINGS_DROPPED = Counter("cds_recorded_evaluations_dropped_total", "Evaluations not recorded (CDS_RECORD_FACTS) "
                             "because the card log's writer was behind or the store refused them")
RULE_FIRING_ANOMALY = Gauge("cds_rule_firing_anomaly", "1 while a live rule's daily firing is flagged as anomalous "
                            "(stopped, dropped or jumped against its own baseline; see /analytics), else 0",
                            ["rule"], multiprocess_mode="livemax")
REPLAY_STORE_UNAVAILABLE = Counter("cds_replay_store_unavailable_total", "jti checks decided by the worker's own "
                                   "replay cache because the shared store did not answer in time or failed")

UNKNOWN_SERVICE = "(unknown)"  # a label for every unknown id: callers cannot grow the label set


def count_rejected_call(scope: dict[str, Any], status: int) -> None:
    """Count a service call (`POST /cds-services/{id}`) refused before the app ran, by the ASGI scope."""
    parts = scope.get("path", "").strip("/").split("/")
    if scope.get("method") != "POST" or len(parts) != 2 or parts[0] != "cds-services":
        return
    REQUESTS.labels(parts[1] if parts[1] in _known_services(scope) else UNKNOWN_SERVICE, str(status)).inc()


def _known_services(scope: dict[str, Any]) -> Container[str]:
    """The service ids of the app serving this scope (its current rules), none if it has no rules."""
    runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
    return runtime.current.rulebook.services if runtime is not None else ()


@contextmanager
def shared_by_workers() -> Iterator[None]:
    """While the block runs, worker processes started from this one keep their metrics in one fresh
    directory (removed afterwards): set before they import prometheus_client."""
    directory = tempfile.mkdtemp(prefix="cds-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)


def worker_started() -> None:
    """In a worker process sharing its metrics: its per-process gauges go when it exits."""
    if MULTIPROCESS_DIR in os.environ:
        atexit.register(multiprocess.mark_process_dead, os.getpid())


def exposition() -> bytes:
    """The Prometheus text of every worker process sharing metrics, else of this process."""
    if MULTIPROCESS_DIR not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)
