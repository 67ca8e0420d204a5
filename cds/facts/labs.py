"""Observations → the latest lab result per kind, in canonical units."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from cds.facts.codes import Answers, codings_of, texts_of
from cds.facts.display import format_number
from cds.facts.model import LabFact, LabUnitProblemFact
from cds.facts.units import Units
from cds.fhir.models import Observation, Quantity
from cds.fhir.record import as_datetime

IGNORED_STATUSES = {"entered-in-error", "cancelled"}
LAB_NAMES = {"b12_total": "B12", "b12_active": "active B12", "mma": "MMA", "homocysteine": "homocysteine",
             "hb": "Hb", "mcv": "MCV", "egfr": "eGFR", "potassium": "potassium"}
UNIT_TEXT = {"umol/L": "µmol/L", "mL/min/{1.73_m2}": "mL/min/1.73 m²"}
_BOUNDS = {"implausible_at_or_above": operator.ge, "implausible_above": operator.gt,
           "implausible_below": operator.lt}
_CAUSES = {"unit": "unit not recognised", "implausible": "implausible value", "comparator": "a bound, not a value",
           "future": "dated in the future"}
LOINC = "http://loinc.org"


@dataclass
class LabSummary:
    latest: dict[str, LabFact]
    results: dict[str, list[LabFact]]      # per kind, newest first, the usable results newer than any problem
    problems: list[LabUnitProblemFact]
    intrinsic_factor_positive: bool


def day_text(when: datetime) -> str:
    return _day_text(when.date())


@lru_cache(maxsize=4096)
def _day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def summarize_labs(observations: list[Observation], config: dict[str, Any], units: Units, answers: Answers,
                   now: datetime) -> LabSummary:
    """The newest result per lab kind, when it is usable; unusable results become problems.

    A kind whose newest result is unusable is unknown: an older result does not stand in for it.
    """
    kind_by_loinc = {code: kind for kind, spec in config["labs"].items() for code in spec["loinc"]}
    antibody = config["intrinsic_factor_antibody"]
    by_kind: dict[str, list[LabFact | LabUnitProblemFact]] = {}
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
        result = _result(observation.id or str(len(problems)), kind, quantity, config["labs"][kind], units,
                         round((now - when).total_seconds() / 86400, 2), day_text(when))
        if isinstance(result, LabUnitProblemFact):
            problems.append(result)
        by_kind.setdefault(kind, []).append(result)
    antibody_results.sort()
    results = {kind: _usable_run(found) for kind, found in by_kind.items()}
    latest = {kind: run[0] for kind, run in results.items() if run}
    return LabSummary(latest, results, problems, bool(antibody_results and antibody_results[-1][1]))


def _usable_run(found: list[LabFact | LabUnitProblemFact]) -> list[LabFact]:
    """The usable results, newest first, up to the newest unusable one (older ones never stand in)."""
    run: list[LabFact] = []
    for result in sorted(found, key=lambda r: r.days_ago):
        if not isinstance(result, LabFact):
            break
        run.append(result)
    return run


def _result(observation_id: str, kind: str, quantity: Quantity, spec: dict[str, Any], units: Units,
            days_ago: float, date: str) -> LabFact | LabUnitProblemFact:
    """One numeric result in canonical units, or the problem that keeps it from any threshold."""
    value = _canonical_value(quantity, spec, units)
    unit_text = quantity.code or quantity.unit or "(none)"
    written = f"{quantity.comparator or ''}{format_number(float(quantity.value))} {unit_text}"
    name = LAB_NAMES.get(kind, kind)
    if value is None:
        cause, reason = "unit", f"the unit '{unit_text}' is not one {name} is reported in ({', '.join(spec['units'])})"
    elif _implausible(value, spec):
        cause, reason = "implausible", (f"{written} is outside what is possible for {name} "
                                        f"({_plausible_text(spec)}): most likely a unit error")
    elif quantity.comparator:
        cause, reason = "comparator", f"{written} is a bound, not a value"
    elif days_ago < -1:
        cause, reason = "future", f"{written} is dated {date}, in the future"
    else:
        return LabFact(id=f"lab:{kind}", kind=kind, value=value, unit=spec["canonical"], days_ago=days_ago, date=date)
    return LabUnitProblemFact(id=f"problem:{observation_id}", kind=kind, value=float(quantity.value),
                              unit=unit_text, cause=cause, reason=reason, days_ago=days_ago, date=date,
                              kind_text=name, written=written, cause_text=_CAUSES[cause])


def _implausible(value: float, spec: dict[str, Any]) -> bool:
    """Outside the lab's plausible range (canonical unit), or not a finite number: not a result."""
    return not math.isfinite(value) or any(test(value, spec[key]) for key, test in _BOUNDS.items() if key in spec)


def _plausible_text(spec: dict[str, Any]) -> str:
    """'plausible 30 to 250 g/L' from the lab's bounds, as facts.yaml sets them."""
    unit = UNIT_TEXT.get(spec["canonical"], spec["canonical"])
    low = spec.get("implausible_below")
    high = spec.get("implausible_above", spec.get("implausible_at_or_above"))
    if low is not None and high is not None:
        return f"plausible {format_number(low)} to {format_number(high)} {unit}"
    if high is not None:
        return f"plausible below {format_number(high)} {unit}"
    if low is not None:
        return f"plausible from {format_number(low)} {unit}"
    return "not a finite number"


def _effective(observation: Observation) -> datetime | None:
    period = observation.effectivePeriod
    return as_datetime(observation.effectiveDateTime or observation.effectiveInstant
                       or (period.end or period.start if period else None) or observation.issued)


def _canonical_value(quantity: Quantity, spec: dict[str, Any], units: Units) -> float | None:
    ucum = units.of(quantity)
    if ucum is None or not any(units.same(ucum, accepted) for accepted in spec["units"]):
        return None
    return units.convert(float(quantity.value), ucum, spec["canonical"], spec.get("molar_mass_g_per_mol"))


def observation_answer(observation: Observation, answers: Answers) -> bool | None:
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
