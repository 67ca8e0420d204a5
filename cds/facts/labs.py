"""Observations → the latest lab result per kind, in canonical units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.facts.codes import Answers, codings_of, texts_of
from cds.facts.model import LabFact, LabUnitProblemFact
from cds.facts.units import Units
from cds.fhir.record import as_datetime

IGNORED_STATUSES = {"entered-in-error", "cancelled"}
LOINC = "http://loinc.org"


@dataclass
class LabSummary:
    latest: dict[str, LabFact]
    problems: list[LabUnitProblemFact]
    intrinsic_factor_positive: bool


def day_text(when: datetime) -> str:
    return f"{when.day} {when:%b %Y}"


def summarize_labs(observations: list[Any], config: dict[str, Any], units: Units, answers: Answers,
                   now: datetime) -> LabSummary:
    """Latest usable result per lab kind; unconvertible or implausible ones become problems."""
    kind_by_loinc = {code: kind for kind, spec in config["labs"].items() for code in spec["loinc"]}
    antibody = config["intrinsic_factor_antibody"]
    latest: dict[str, LabFact] = {}
    problems: list[LabUnitProblemFact] = []
    antibody_results: list[tuple[datetime, bool]] = []
    for observation in observations:
        if observation.status in IGNORED_STATUSES:
            continue
        codes = {c.code for c in codings_of(observation.code) if c.system == LOINC}
        when = _effective(observation)
        if codes & set(antibody["loinc"]):
            verdict = observation_answer(observation, answers)
            if verdict is not None and when is not None:
                antibody_results.append((when, verdict))
            continue
        kind = next((kind_by_loinc[code] for code in sorted(codes) if code in kind_by_loinc), None)
        quantity = observation.valueQuantity
        if kind is None or when is None or quantity is None or quantity.value is None:
            continue
        days_ago = round((now - when).total_seconds() / 86400, 2)
        spec = config["labs"][kind]
        value = _canonical_value(quantity, spec, units)
        unit_text = quantity.code or quantity.unit or "(none)"
        reason = None
        if value is None:
            reason = f"unit '{unit_text}' is not one of {', '.join(spec['units'])}"
        elif value >= spec.get("implausible_at_or_above", float("inf")):
            reason = f"{float(quantity.value):g} {unit_text} is implausible for {kind}"
        if reason:
            problems.append(LabUnitProblemFact(
                id=f"problem:{observation.id or len(problems)}", kind=kind,
                value=float(quantity.value), unit=unit_text, reason=reason,
                days_ago=days_ago, date=day_text(when)))
            continue
        current = latest.get(kind)
        if current is None or days_ago < current.days_ago:
            latest[kind] = LabFact(id=f"lab:{kind}", kind=kind, value=value,
                                   unit=spec["canonical"], days_ago=days_ago, date=day_text(when))
    antibody_results.sort()
    return LabSummary(latest, problems, bool(antibody_results and antibody_results[-1][1]))


def _effective(observation: Any) -> datetime | None:
    period = observation.effectivePeriod
    return as_datetime(observation.effectiveDateTime or observation.effectiveInstant
                       or (period.end or period.start if period else None) or observation.issued)


def _canonical_value(quantity: Any, spec: dict[str, Any], units: Units) -> float | None:
    ucum = units.ucum(quantity.code, quantity.system, quantity.unit)
    if ucum is None or not any(units.same(ucum, accepted) for accepted in spec["units"]):
        return None
    return units.convert(float(quantity.value), ucum, spec["canonical"], spec.get("molar_mass_g_per_mol"))


def observation_answer(observation: Any, answers: Answers) -> bool | None:
    """What a qualitative result says: its value (boolean, coded or text), else its interpretation."""
    if observation.valueBoolean is not None:
        return bool(observation.valueBoolean)
    value = observation.valueCodeableConcept
    texts = texts_of(value) + ([observation.valueString.lower()] if observation.valueString else [])
    said = answers.read(codings_of(value), texts)
    if said is not None:
        return said
    interpretations = observation.interpretation or []
    return answers.read([c for i in interpretations for c in codings_of(i)],
                        [t for i in interpretations for t in texts_of(i)])
