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
from cds.generation import LoadedRules
from cds.hooks import HookContext, HookRequest, draft_resources
from cds.metrics import INCOMPLETE
from cds.rulebook.model import Service
from cds.stages import StageClock


@dataclass
class Outcome:
    """What a call produced: the CDS Hooks response, and the facts it was built from (for explain)."""

    response: dict[str, Any]
    facts: FactSet
    clock: StageClock


def run_service(rules: LoadedRules, service: Service, request: HookRequest, context: HookContext,
                settings: Settings, started: float, now: datetime | None = None,
                clock: StageClock | None = None) -> Outcome:
    """Evaluate one validated request; raises DataUnavailable / BadPrefetch for 412 / 400, and
    Overloaded (503) when too little of the deadline is left to start (load is shed at admission).
    The stages' times go to `clock` (from its last mark)."""
    clock = clock or StageClock()
    clock.mark("queue")  # waiting for an evaluation slot
    deadline = started + settings.deadline_s
    if deadline - time.monotonic() < settings.admission_min_left_s:
        raise Overloaded(f"less than {settings.admission_min_left_s:g} s of the deadline left to start")
    drafts, unselected = draft_resources(context) if service.hook != "patient-view" else ([], [])

    def client() -> FhirClient | None:
        if not request.fhirServer:
            return None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        budget = min(settings.fhir_budget_s, max(0.0, deadline - time.monotonic() - settings.fhir_reserve_s))
        return FhirClient(request.fhirServer, token, budget, settings.fhir_connect_timeout_s,
                          settings.fhir_max_pages, settings.fhir_max_resources)

    record = gather_record(rules.prefetch, request.prefetch, context.model_dump(), drafts, client,
                           settings.fhir_max_resources, unselected, wanted=rules.selects)
    clock.mark("fhir")
    now = now or datetime.now(UTC)
    facts = rules.normalizer.normalize(record, service.hook, now)
    clock.mark("facts")
    evaluation = rules.engine.evaluate(facts.engine_facts(), service, deadline)
    clock.mark("engine")
    builder = CardBuilder(rules.rulebook, service.id, request.hookInstance, context.patientId, record.draft_json,
                          now.date())
    cards = builder.build(evaluation.findings)
    if not evaluation.complete:
        INCOMPLETE.inc()
        cards.append(_incomplete_card(builder, evaluation.skipped))
    clock.mark("cards")
    return Outcome({"cards": cards, "systemActions": []}, facts, clock)


class Overloaded(RuntimeError):
    """Too little time left to evaluate within the deadline: 503, retry."""


def _incomplete_card(builder: CardBuilder, skipped: list[str]) -> dict[str, Any]:
    reasons = builder.rulebook.override_reasons
    return {
        "uuid": builder.card_uuid("service.incomplete", "patient"),
        "summary": "B12 checks incomplete: the time limit was reached before every check ran",
        "indicator": "warning",
        "detail": f"These rule packs did not run: **{', '.join(skipped)}**.\n\n"
                  "The cards shown are those found so far; the absence of a card from these packs is not "
                  "reassurance. Retry, or check the order by hand.",
        "source": {"label": builder.rulebook.card_source_label,
                   "topic": {"system": TOPIC_SYSTEM, "code": "service.incomplete", "display": "Checks incomplete"}},
        "overrideReasons": [{"system": reasons["system"], "code": "not-applicable",
                             "display": reasons["codes"]["not-applicable"]}],
    }
