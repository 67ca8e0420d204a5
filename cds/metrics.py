"""Prometheus metrics shared by the HTTP layer and the FHIR layer."""

from prometheus_client import Counter, Gauge, Histogram

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
RULES_LOADED = Gauge("cds_rules_loaded", "Rules currently loaded")
RELOADS = Counter("cds_rule_reloads_total", "Rule reload attempts by outcome", ["outcome"])
FEEDBACK = Counter("cds_feedback_total", "Feedback entries stored by outcome", ["outcome"])
CARD_LOG_DROPPED = Counter("cds_card_log_dropped_total", "Issued cards not written to the card log, by reason "
                           "(queue_full: the writer is behind; store_error: the store refused the batch)", ["reason"])
REPLAY_STORE_UNAVAILABLE = Counter("cds_replay_store_unavailable_total", "jti checks decided by the worker's own "
                                   "replay cache because the shared store did not answer in time or failed")
