"""One service call, start to end: data → facts → engine → cards."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds.cards import TOPIC_SYSTEM, CardBuilder
from cds.config import Settings
from cds.facts.normalize import FactSet
from cds.fhir.client import FhirClient
from cds.fhir.gather import gather_record
from cds.hooks import HookContext, HookRequest, draft_resources
from cds.metrics import INCOMPLETE
from cds.rulebook.model import Service
from cds.runtime import LoadedRules


@dataclass
class Outcome:
    """What a call produced: the CDS Hooks response, and the facts it was built from (for explain)."""

    response: dict[str, Any]
    facts: FactSet


def run_service(rules: LoadedRules, service: Service, request: HookRequest, context: HookContext,
                settings: Settings, started: float, now: datetime | None = None) -> Outcome:
    """Evaluate one validated request; raises DataUnavailable / BadPrefetch for 412 / 400."""
    deadline = started + settings.deadline_s
    drafts, unselected = draft_resources(context) if service.hook != "patient-view" else ([], [])

    def client() -> FhirClient | None:
        if not request.fhirServer:
            return None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        budget = min(settings.fhir_budget_s, max(0.0, deadline - time.monotonic() - 0.1))
        return FhirClient(request.fhirServer, token, budget, settings.fhir_connect_timeout_s,
                          settings.fhir_max_pages, settings.fhir_max_resources)

    record = gather_record(rules.prefetch, request.prefetch, context.model_dump(), drafts, client,
                           settings.fhir_max_resources, unselected)
    facts = rules.normalizer.normalize(record, service.hook, now or datetime.now(UTC))
    evaluation = rules.engine.evaluate(facts.engine_facts(), service.packs, service.hook, deadline)
    builder = CardBuilder(rules.rulebook, service.id, request.hookInstance, context.patientId, record.draft_json)
    cards = builder.build(evaluation.findings)
    if not evaluation.complete:
        INCOMPLETE.inc()
        cards.append(_incomplete_card(builder))
    return Outcome({"cards": cards, "systemActions": []}, facts)


def _incomplete_card(builder: CardBuilder) -> dict[str, Any]:
    return {
        "uuid": builder.card_uuid("service.incomplete", "patient"),
        "summary": "B12 checks incomplete: the time limit was reached",
        "indicator": "info",
        "detail": "Not every rule pack could run within the service's time limit. "
                  "The cards shown are those found so far; absence of a card is not reassurance.",
        "source": {"label": builder.rulebook.card_source_label,
                   "topic": {"system": TOPIC_SYSTEM, "code": "service.incomplete",
                             "display": "Checks incomplete"}},
    }
