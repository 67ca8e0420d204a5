"""Folic-acid drafts under evaluation, for `deficiency.folic-acid-alone` (clinical-rules.md §2, rev 2).

One job: which drafts order folic acid (RxNorm code or text, from the `folic_acid` value set) and
are not B12 orders themselves (a folic acid + B12 combination is read as a B12 order and so is
B12 cover, not folic acid alone). They are not `draft_order` facts: the B12 unit, route and label
rules must never see them.
"""

from __future__ import annotations

from typing import Any

from cds.facts.codes import ValueSet, codings_of, texts_of
from cds.facts.display import concept_text

VALUESET = "folic_acid"   # matched against drafts only, never against the record's findings


def folic_acid_drafts(drafts: list[Any], medications: dict[str, Any], valueset: ValueSet,
                      b12_draft_ids: set[str]) -> list[str]:
    """The product text of each folic-acid draft that is not a B12 order."""
    found = []
    for draft in drafts:
        if draft.id in b12_draft_ids:
            continue
        concepts = _concepts(draft, medications)
        if any(valueset.matches(codings_of(c), texts_of(c)) for c in concepts):
            found.append(concept_text(concepts[0]))
    return found


def _concepts(request: Any, medications: dict[str, Any]) -> list[Any]:
    """The concepts naming a MedicationRequest's product: its own, else its Medication's code."""
    if request.medicationCodeableConcept is not None:
        return [request.medicationCodeableConcept]
    reference = request.medicationReference
    target = (reference.reference or "") if reference else ""
    if target.startswith("#"):
        medication = next((r for r in request.contained or [] if r.id == target[1:]), None)
    else:
        medication = medications.get("/".join(target.split("/")[-2:])) if target else None
    concepts: list[Any] = [medication.code] if medication is not None and medication.code else []
    if reference is not None and reference.display:
        concepts.append(_Text(reference.display))
    return concepts


class _Text:
    """A CodeableConcept stand-in for a reference that only carries a display."""

    def __init__(self, text: str):
        self.text = text
        self.coding: list[Any] = []
