"""What a MedicationRequest names as its product: its concept, or its Medication's (contained or
referenced) code and ingredients, and the reference's display."""

from __future__ import annotations

from typing import Any


class TextConcept:
    """A CodeableConcept stand-in for a Reference that only carries a display."""

    def __init__(self, text: str):
        self.text = text
        self.coding: list[Any] = []


def medication_of(request: Any, medications: dict[str, Any]) -> tuple[list[Any], Any]:
    """(concepts naming the product, the Medication resource or None)."""
    if request.medicationCodeableConcept is not None:
        return [request.medicationCodeableConcept], None
    reference = request.medicationReference
    target = (reference.reference or "") if reference else ""
    medication = None
    if target.startswith("#"):
        medication = next((r for r in request.contained or []
                           if r.get_resource_type() == "Medication" and r.id == target[1:]), None)
    elif target:
        medication = medications.get("/".join(target.split("/")[-2:]))
    concepts = []
    if medication is not None:
        concepts.append(medication.code)
        concepts += [i.itemCodeableConcept for i in medication.ingredient or [] if i.itemCodeableConcept]
    if reference is not None and reference.display:
        concepts.append(TextConcept(reference.display))
    return [c for c in concepts if c is not None], medication
