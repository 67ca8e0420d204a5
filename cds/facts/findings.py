"""What in the record matches each value set of valuesets.yaml: active Conditions (code or text), completed
Procedures (code or text), coded Observations and active AllergyIntolerances, per the set's `sources`."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from cds.facts.codes import Answers, CodeSystems, Coding, ValueSet, codings_of, texts_of
from cds.facts.display import concept_text
from cds.facts.labs import IGNORED_STATUSES, observation_answer
from cds.fhir.models import AllergyIntolerance, CodeableConcept, Condition, Observation
from cds.fhir.record import PatientRecord

_INACTIVE_CLINICAL = {"inactive", "remission", "resolved"}
_VOID_VERIFICATION = {"entered-in-error", "refuted"}
_DEFAULT_SOURCES = ("Condition", "Procedure", "Observation")
_ABATEMENT = ("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString")
DRAFT_ONLY = frozenset({"folic_acid"})   # matched against draft orders (cds/facts/folate.py), never the record


class FindingMatcher:
    """The rulebook's value sets, built once; `match(record)` per request."""

    def __init__(self, valuesets: dict[str, Any], answers: Answers):
        systems = CodeSystems(valuesets["systems"])
        self.valuesets = {name: ValueSet(systems, spec["codes"], spec.get("text", []))
                          for name, spec in valuesets["valuesets"].items()}
        self._sources = {name: frozenset(spec.get("sources", _DEFAULT_SOURCES))
                         for name, spec in valuesets["valuesets"].items()}
        self._answers = answers

    def match(self, record: PatientRecord) -> RecordFindings:
        return RecordFindings(self, record)


class RecordFindings:
    """One record's matches: value set name → what matched, as card text ("pernicious anaemia")."""

    def __init__(self, matcher: FindingMatcher, record: PatientRecord):
        self._matcher = matcher
        self._record = record
        self.matched = {name: self._match(name) for name in matcher.valuesets if name not in DRAFT_ONLY}

    def __getitem__(self, name: str) -> list[str]:
        return self.matched[name]

    def severe_allergy(self, valueset: str) -> bool:
        """An active allergy in the value set with criticality high, or a severe or anaphylactic reaction."""
        matches = self._matcher.valuesets[valueset]
        return any(_active(a) and matches.matches(codings_of(a.code), _allergy_texts(a)) and _severe(a)
                   for a in self._record.allergies)

    def _match(self, name: str) -> list[str]:
        valueset, sources, found = self._matcher.valuesets[name], self._matcher._sources[name], []
        record = self._record
        if "Condition" in sources:
            found += [concept_text(code) for code, codings, texts in self._conditions
                      if valueset.matches(codings, texts)]
        if "Procedure" in sources:
            found += [concept_text(code) for code, codings, texts in self._procedures
                      if valueset.matches(codings, texts)]
        if "Observation" in sources:
            for (value, code), observations in self._observations_by_codings.items():
                found += [concept_text(o.valueCodeableConcept or o.code) for o in self._observed(
                    valueset, value, code, observations)]
        if "AllergyIntolerance" in sources:
            found += [concept_text(a.code or _reaction_substance(a)) for a in record.allergies
                      if _active(a) and valueset.matches(codings_of(a.code), _allergy_texts(a))]
        return list(dict.fromkeys(found))

    @cached_property
    def _conditions(self) -> list[tuple[CodeableConcept | None, list[Coding], list[str]]]:
        """The active Conditions' codes with their codings and texts, read once for every value set."""
        return [_readings(c.code) for c in self._record.conditions if _active(c)]

    @cached_property
    def _procedures(self) -> list[tuple[CodeableConcept | None, list[Coding], list[str]]]:
        """The completed Procedures' codes with their codings and texts."""
        return [_readings(p.code) for p in self._record.procedures if p.status == "completed"]

    @cached_property
    def _observations_by_codings(self) -> dict[tuple[tuple[Coding, ...], tuple[Coding, ...]], list[Observation]]:
        """The counted Observations grouped by (value codings, code codings): a record repeats the
        same few codes, so each value set is matched once per group."""
        grouped: dict[tuple[tuple[Coding, ...], tuple[Coding, ...]], list[Observation]] = {}
        for o in self._record.observations:
            if o.status not in IGNORED_STATUSES:
                grouped.setdefault((tuple(codings_of(o.valueCodeableConcept)), tuple(codings_of(o.code))), []).append(o)
        return grouped

    def _observed(self, valueset: ValueSet, value: tuple[Coding, ...], code: tuple[Coding, ...],
                  observations: list[Observation]) -> list[Observation]:
        """Findings recorded as Observations: their value is in the set, or their code is and the
        value does not say no (a paraesthesia Observation valued "Absent" is not a finding)."""
        if valueset.matches(value):
            return observations
        if valueset.matches(code):
            return [o for o in observations if observation_answer(o, self._matcher._answers) is not False]
        return []


def _readings(code: CodeableConcept | None) -> tuple[CodeableConcept | None, list[Coding], list[str]]:
    return code, codings_of(code), texts_of(code)


def _active(resource: Condition | AllergyIntolerance) -> bool:
    """A Condition or AllergyIntolerance that is neither resolved nor entered in error / refuted.
    Without a clinical status, a Condition with an abatement has resolved."""
    verification = {c.code for c in codings_of(resource.verificationStatus)}
    clinical = {c.code for c in codings_of(resource.clinicalStatus)}
    abated = not clinical and any(getattr(resource, name, None) for name in _ABATEMENT)
    return not (verification & _VOID_VERIFICATION or clinical & _INACTIVE_CLINICAL or abated)


def _severe(allergy: AllergyIntolerance) -> bool:
    reactions = allergy.reaction or []
    manifestations = [text for r in reactions for concept in r.manifestation or [] for text in texts_of(concept)]
    return (allergy.criticality == "high" or any(r.severity == "severe" for r in reactions)
            or any("anaphyla" in text for text in manifestations))


def _reaction_substance(allergy: AllergyIntolerance) -> CodeableConcept | None:
    return next((reaction.substance for reaction in allergy.reaction or [] if reaction.substance), None)


def _allergy_texts(allergy: AllergyIntolerance) -> list[str]:
    """The allergy's own text plus the substances named in its reactions."""
    texts = texts_of(allergy.code)
    for reaction in allergy.reaction or []:
        texts += texts_of(reaction.substance)
    return texts
