"""One service call, start to end: data → facts → engine → cards."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cds.cards import TOPIC_SYSTEM, CardBuilder
from cds.config import Settings
from cds.facts.normalize import FactSet
from cds.fhir.allowlist import ANY_SERVER, ServerAllowlist
from cds.fhir.client import FhirClient
from cds.fhir.gather import gather_record
from cds.generation import LoadedRules
from cds.hooks import HookContext, HookRequest, draft_resources
from cds.metrics import INCOMPLETE
from cds.rulebook.model import Service
from cds.stages import StageClock

NO_SERVER = ServerAllowlist([])      # an offline call reads what the request holds, and fetches nothing
NO_DEADLINE_S = 3600.0               # an offline call has no EHR waiting on it


@dataclass
class Outcome:
    """What a call produced: the CDS Hooks response, and the facts it was built from (for explain).
    `silent`: the cards of silent rules (for the card log, never the response); `evaluated`: the facts
    exactly as the engine took them when every rule ran (None when the deadline cut the call short), and
    `about`: each card's order by uuid (for a recorded evaluation)."""

    response: dict[str, Any]
    facts: FactSet | None     # None when the deadline came before the facts were built
    clock: StageClock
    silent: list[dict[str, Any]] = field(default_factory=list)
    evaluated: list[dict[str, Any]] | None = None
    about: dict[str, str] = field(default_factory=dict)


def run_service(rules: LoadedRules, service: Service, request: HookRequest, context: HookContext,
                settings: Settings, started: float, now: datetime | None = None,
                clock: StageClock | None = None, fhir_servers: ServerAllowlist = ANY_SERVER) -> Outcome:
    """Evaluate one validated request; raises MissingData / BadPrefetch for 412 / 400. Every stage
    counts toward the deadline (`started` + settings.deadline_s): a stage that ends past it ends the
    call, answered with the cards found so far and `service.incomplete` naming the packs that did not
    run. Whether the call may start at all is decided before (cds.api.admission). The request's
    fhirServer is contacted only if `fhir_servers` allows it. The stages' times go to `clock` (from
    its last mark)."""
    clock = clock or StageClock()
    clock.mark("queue")  # waiting for an evaluation slot
    deadline = started + settings.deadline_s
    drafts, unselected = draft_resources(context) if service.hook != "patient-view" else ([], [])

    def client() -> FhirClient | None:
        if not request.fhirServer:
            return None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        budget = min(settings.fhir_budget_s, max(0.0, deadline - time.monotonic() - settings.fhir_reserve_s))
        return FhirClient(request.fhirServer, token, budget, settings.fhir_connect_timeout_s,
                          settings.fhir_max_pages, settings.fhir_max_resources, allowlist=fhir_servers)

    record = gather_record(rules.prefetch, request.prefetch, context.model_dump(), drafts, client,
                           settings.fhir_max_resources, unselected, wanted=rules.selects)
    clock.mark("fhir")
    now = now or datetime.now(UTC)
    if time.monotonic() >= deadline:
        return Outcome(cut_short(rules, service, request, context, record.draft_json), None, clock)
    facts = rules.normalizer.normalize(record, service.hook, now)
    clock.mark("facts")
    if time.monotonic() >= deadline:
        return Outcome(cut_short(rules, service, request, context, record.draft_json), facts, clock)
    engine_facts = facts.engine_facts()
    evaluation = rules.engine.evaluate(engine_facts, service, deadline)
    clock.mark("engine")
    builder = CardBuilder(rules.rulebook, service.id, request.hookInstance, context.patientId, record.draft_json,
                          now.date())
    answer = builder.answer(evaluation.findings)
    cards = answer.shown
    if not evaluation.complete:
        INCOMPLETE.inc()
        cards.append(_incomplete_card(builder, evaluation.skipped))
    clock.mark("cards")
    return Outcome({"cards": cards, "systemActions": []}, facts, clock, answer.silent,
                   engine_facts if evaluation.complete else None, answer.about)


def run_offline(rules: LoadedRules, service: Service, request: HookRequest, context: HookContext,
                now: datetime | None = None) -> Outcome:
    """A call no EHR waits for (rule examples, `cds rules explain`, impact previews): the request's own data
    only, no FHIR server contacted, and no deadline, so its answer never depends on how busy the machine is."""
    return run_service(rules, service, request, context, _offline_settings(), time.monotonic(), now=now,
                       fhir_servers=NO_SERVER)


@cache
def _offline_settings() -> Settings:
    """One for the process: making Settings takes about a millisecond, a corpus preview makes thousands of calls."""
    return Settings(deadline_s=NO_DEADLINE_S)


def cut_short(rules: LoadedRules, service: Service, request: HookRequest, context: HookContext,
              draft_json: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer of a call whose deadline came before any rule ran: `service.incomplete` alone."""
    INCOMPLETE.inc()
    builder = CardBuilder(rules.rulebook, service.id, request.hookInstance, context.patientId, draft_json or {},
                          datetime.now(UTC).date())
    return {"cards": [_incomplete_card(builder, list(service.packs))], "systemActions": []}


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
