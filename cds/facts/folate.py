"""Folic-acid drafts under evaluation, for `deficiency.folic-acid-alone` (clinical-rules.md §2).

One job: which drafts order folic acid (RxNorm code or text, from the `folic_acid` value set) and
are not B12 orders themselves (a folic acid + B12 combination is read as a B12 order and so is
B12 cover, not folic acid alone). They are not `draft_order` facts: the B12 unit, route and label
rules must never see them.
"""

from __future__ import annotations

from cds.facts.codes import ValueSet, codings_of, texts_of
from cds.facts.display import concept_text
from cds.facts.medication import medication_of
from cds.fhir.models import Medication, MedicationRequest

VALUESET = "folic_acid"   # matched against drafts only, never against the record's findings


def folic_acid_drafts(drafts: list[MedicationRequest], medications: dict[str, Medication], valueset: ValueSet,
                      b12_draft_ids: set[str]) -> list[str]:
    """The product text of each folic-acid draft that is not a B12 order."""
    found = []
    for draft in drafts:
        if draft.id in b12_draft_ids:
            continue
        concepts, _ = medication_of(draft, medications)
        if any(valueset.matches(codings_of(c), texts_of(c)) for c in concepts):
            found.append(concept_text(concepts[0]))
    return found
