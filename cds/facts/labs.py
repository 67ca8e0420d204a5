"""Observations → the latest lab result per kind, in canonical units."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from cds.facts.codes import Answers, codings_of, texts_of
from cds.facts.display import format_number
from cds.facts.model import LabFact, LabUnitProblemFact
from cds.facts.units import Units
from cds.fhir.models import CodeableConcept, Observation, Quantity
from cds.fhir.record import as_datetime

IGNORED_STATUSES = {"entered-in-error", "cancelled"}
LAB_NAMES = {"b12_total": "B12", "b12_active": "active B12", "mma": "MMA", "homocysteine": "homocysteine",
             "hb": "Hb", "mcv": "MCV", "egfr": "eGFR", "potassium": "potassium"}
UNIT_TEXT = {"umol/L": "µmol/L", "mL/min/{1.73_m2}": "mL/min/1.73 m²"}
_BOUNDS = {"implausible_at_or_above": operator.ge, "implausible_above": operator.gt,
           "implausible_below": operator.lt}
_CAUSES = {"unit": "unit not recognised", "implausible": "implausible value", "comparator": "a bound, not a value",
           "no-value": "no numeric value; counted as indeterminate", "future": "dated in the future"}
_COMPARATORS = frozenset({"<", "<=", ">", ">="})
_BOUND = re.compile(r"^\s*(<=|>=|<|>)")
_WRITTEN = re.compile(r"(<=|>=|<|>)?\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*([A-Za-zµμ/.]+)?")
LOINC = "http://loinc.org"


@dataclass
class LabSummary:
    latest: dict[str, LabFact]
    results: dict[str, list[LabFact]]      # per kind, newest first, the usable results newer than any problem
    problems: list[LabUnitProblemFact]
    intrinsic_factor_positive: bool
    flagged_low: dict[str, LabUnitProblemFact] = field(default_factory=dict)  # kind → newest result, a "low" flag


def day_text(when: datetime) -> str:
    return _day_text(when.date())


@lru_cache(maxsize=4096)
def _day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


class LabReader:
    """Observations → the newest usable result per lab kind, with facts.yaml's lab table."""

    def __init__(self, config: dict[str, Any], units: Units, answers: Answers):
        self._labs = config["labs"]
        self._kind_by_loinc = {code: kind for kind, spec in self._labs.items() for code in spec["loinc"]}
        self._antibody = set(config["intrinsic_factor_antibody"]["loinc"])
        self._units = units
        self._answers = answers
        low = config["qualitative_low"]
        self._low_flags = set(low["interpretation"])
        self._low_words = re.compile(rf"\b({'|'.join(map(re.escape, low['text']))})\b", re.IGNORECASE)

    def kind_of(self, concept: CodeableConcept | None) -> str | None:
        """The lab kind a LOINC-coded concept names (an Observation's code, a ServiceRequest's), or None."""
        return next((self._kind_by_loinc[c.code] for c in codings_of(concept)
                     if c.system == LOINC and c.code in self._kind_by_loinc), None)

    def summarize(self, observations: list[Observation], now: datetime, unbounded: frozenset[str] = frozenset()
                  ) -> LabSummary:
        """The newest result per lab kind, when it is usable; unusable results become problems. A kind
        whose newest result is unusable is unknown: an older result does not stand in for it.
        `unbounded`: kinds whose plausibility bounds do not apply (MMA in an inborn cobalamin disorder)."""
        by_kind: dict[str, list[LabFact | LabUnitProblemFact]] = {}
        problems: list[LabUnitProblemFact] = []
        antibody_results: list[tuple[datetime, bool]] = []
        for observation in observations:
            if observation.status in IGNORED_STATUSES:
                continue
            codes = sorted(c.code for c in codings_of(observation.code) if c.system == LOINC and c.code)
            when = _effective(observation)
            if self._antibody.intersection(codes):
                verdict = observation_answer(observation, self._answers)
                if verdict is not None and when is not None:
                    antibody_results.append((when, verdict))
                continue
            loinc = next((code for code in codes if code in self._kind_by_loinc), None)
            if loinc is None or when is None:
                continue
            kind = self._kind_by_loinc[loinc]
            result = self._result(observation, kind, loinc, kind in unbounded,
                                  round((now - when).total_seconds() / 86400, 2), day_text(when))
            if result is None:
                continue
            if isinstance(result, LabUnitProblemFact):
                problems.append(result)
            by_kind.setdefault(kind, []).append(result)
        antibody_results.sort()
        results = {kind: _usable_run(found) for kind, found in by_kind.items()}
        flagged = {kind: newest for kind, found in by_kind.items()
                   if isinstance(newest := min(found, key=lambda r: r.days_ago or 0), LabUnitProblemFact)
                   and newest.cause == "no-value"}
        return LabSummary({kind: run[0] for kind, run in results.items() if run}, results, problems,
                          bool(antibody_results and antibody_results[-1][1]), flagged)

    def _result(self, observation: Observation, kind: str, loinc: str, unbounded: bool, days_ago: float,
                date: str) -> LabFact | LabUnitProblemFact | None:
        """One result in canonical units, or the problem that keeps it from any threshold; None when the
        Observation gives no value and no low flag (nothing to read)."""
        spec = self._labs[kind]
        quantity = observation.valueQuantity
        if quantity is not None and quantity.value is not None:
            return self._numeric(observation.id, kind, quantity, spec, unbounded, days_ago, date)
        if "bounds" in spec and observation.valueString:
            quantity = _written_bound(observation.valueString, spec["bounds"].get(loinc, spec["canonical"]))
            if quantity is not None:
                return self._numeric(observation.id, kind, quantity, spec, unbounded, days_ago, date)
            if _BOUND.match(observation.valueString):
                return _problem(observation.id, kind, None, "comparator", f"'{observation.valueString}' is a bound "
                                "that cannot be read", days_ago, date, observation.valueString)
        if "bounds" in spec and self._flagged_low(observation):
            return _problem(observation.id, kind, None, "no-value", "no numeric value, only a low flag; counted as "
                            "indeterminate", days_ago, date, "flagged low")
        return None

    def _numeric(self, observation_id: str | None, kind: str, quantity: Quantity, spec: dict[str, Any],
                 unbounded: bool, days_ago: float, date: str) -> LabFact | LabUnitProblemFact:
        value = _canonical_value(quantity, spec, self._units)
        unit_text = quantity.code or quantity.unit or "(none)"
        written = f"{quantity.comparator or ''}{format_number(float(quantity.value or 0))} {unit_text}"
        name = LAB_NAMES.get(kind, kind)
        comparator = quantity.comparator
        if value is None:
            accepted = ", ".join(spec["units"])
            cause, reason = "unit", f"the unit '{unit_text}' is not one {name} is reported in ({accepted})"
        elif not unbounded and _implausible(value, spec):
            cause, reason = "implausible", (f"{written} is outside what is possible for {name} "
                                            f"({_plausible_text(spec)}): most likely a unit error")
        elif comparator and (comparator not in _COMPARATORS or "bounds" not in spec):
            cause, reason = "comparator", f"{written} is a bound, not a value"
        elif days_ago < -1:
            cause, reason = "future", f"{written} is dated {date}, in the future"
        else:
            return LabFact(id=f"lab:{kind}", kind=kind, value=value, unit=spec["canonical"], days_ago=days_ago,
                           date=date, comparator=comparator)
        return _problem(observation_id, kind, float(quantity.value or 0), cause, reason, days_ago, date, written,
                        unit_text)

    def _flagged_low(self, observation: Observation) -> bool:
        """An interpretation L or LL, or a word such as 'low' in the interpretation or value text."""
        concepts = observation.interpretation or []
        if any(c.code in self._low_flags for concept in concepts for c in codings_of(concept)):
            return True
        texts = [t for concept in concepts for t in texts_of(concept)] + [observation.valueString or ""]
        return any(self._low_words.search(text) for text in texts)


def _problem(observation_id: str | None, kind: str, value: float | None, cause: str, reason: str, days_ago: float,
             date: str, written: str, unit: str | None = None) -> LabUnitProblemFact:
    return LabUnitProblemFact(id=f"problem:{observation_id or kind + ':' + date}", kind=kind, value=value, unit=unit,
                              cause=cause, reason=reason, days_ago=days_ago, date=date,  # type: ignore[arg-type]
                              kind_text=LAB_NAMES.get(kind, kind), written=written, cause_text=_CAUSES[cause])


def _written_bound(text: str, default_unit: str) -> Quantity | None:
    """'<150', '< 150 pg/mL', '>=2000 ng/L' or a plain '450' as a Quantity (the unit, when the text has
    none, is the one the result's LOINC code is reported in); None when the text is not a number."""
    match = _WRITTEN.fullmatch(text.strip())
    if match is None:
        return None
    comparator, number, unit = match.groups()
    return Quantity(value=Decimal(number.replace(",", "")), comparator=comparator, unit=unit or default_unit)


def _usable_run(found: list[LabFact | LabUnitProblemFact]) -> list[LabFact]:
    """The usable results, newest first, up to the newest unusable one (older ones never stand in)."""
    run: list[LabFact] = []
    for result in sorted(found, key=lambda r: r.days_ago or 0):
        if not isinstance(result, LabFact):
            break
        run.append(result)
    return run


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
