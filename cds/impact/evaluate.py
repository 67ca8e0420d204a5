"""A corpus through one rulebook: each evaluation's cards, by rule and the order each is about.

A request file runs the whole call (data, facts, engine, cards) as a service call would, except that no
FHIR server is contacted and there is no deadline (cds.pipeline.run_offline); a recorded evaluation replays its
facts through the engine and the card builder (the facts are the engine's input, so the rules decide exactly
as live)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.cards import CardBuilder
from cds.facts.recorded import card_outcomes
from cds.fhir.gather import BadPrefetch, MissingData
from cds.generation import LoadedRules
from cds.hooks import RequestProblem, parse_request
from cds.impact.corpus import Corpus, RecordedCase, RequestCase
from cds.pipeline import run_offline
from cds.rulebook.model import Service


@dataclass(frozen=True)
class Card:
    indicator: str
    silent: bool


Key = tuple[str, str]                # (rule id, the order the card is about)


@dataclass(frozen=True)
class Evaluated:
    """One evaluation (a corpus entry through one service) under one rulebook: its cards, or why it could not
    run (its cards then count as none)."""

    ref: str                         # "<entry> [<service>]"
    patient: str                     # counted, never shown
    cards: dict[Key, Card]
    problem: str | None = None


def evaluate(rules: LoadedRules, corpus: Corpus, services: dict[str, list[str]], now: datetime) -> dict[str, Evaluated]:
    """Every evaluation of the corpus by `rules`, by ref. `services`: the service ids to run a request of each
    hook through (those of both rulebooks: one missing here is reported, not skipped)."""
    evaluated: dict[str, Evaluated] = {}
    for case in corpus.cases:
        if isinstance(case, RecordedCase):
            chosen = [(case.service_id, case.patient)]
        else:
            chosen = [(service_id, case.patient) for service_id in services.get(case.request["hook"], [])]
        for service_id, patient in chosen:
            ref = f"{case.ref} [{service_id}]"
            service = rules.rulebook.services.get(service_id)
            if service is None:
                evaluated[ref] = Evaluated(ref, patient, {}, f"no service {service_id} in these rules")
                continue
            try:
                cards = (_replayed(rules, service, case) if isinstance(case, RecordedCase)
                         else _called(rules, service, case, now))
            except (RequestProblem, BadPrefetch, MissingData) as error:
                evaluated[ref] = Evaluated(ref, patient, {}, f"{type(error).__name__}: {error}")
            except Exception as error:  # a preview reports what one entry does, it does not stop there
                evaluated[ref] = Evaluated(ref, patient, {}, f"could not evaluate: {type(error).__name__}: {error}")
            else:
                evaluated[ref] = Evaluated(ref, patient, cards)
    return evaluated


def _called(rules: LoadedRules, service: Service, case: RequestCase, now: datetime) -> dict[Key, Card]:
    hook_request, context = parse_request(case.request, service.hook)
    outcome = run_offline(rules, service, hook_request, context, now)
    return _keyed(outcome.response["cards"], outcome.silent, outcome.about)


def _replayed(rules: LoadedRules, service: Service, case: RecordedCase) -> dict[Key, Card]:
    evaluation = rules.engine.evaluate(case.facts, service)
    builder = CardBuilder(rules.rulebook, service.id, case.ref, "patient", {}, case.recorded_at.date())
    answer = builder.answer(evaluation.findings)
    return _keyed(answer.shown, answer.silent, answer.about)


def _keyed(shown: list[dict[str, Any]], silent: list[dict[str, Any]], about: dict[str, str]) -> dict[Key, Card]:
    return _by_key(card_outcomes(shown, silent, about))


def recorded_cards(case: RecordedCase) -> dict[Key, Card]:
    """What the live call that recorded `case` gave, keyed as `evaluate` keys its cards."""
    return _by_key(case.cards)


def _by_key(outcomes: list[list[Any]]) -> dict[Key, Card]:
    return {(rule, order): Card(indicator, bool(hidden)) for rule, indicator, order, hidden in outcomes}
