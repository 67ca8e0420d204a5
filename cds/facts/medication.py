"""What a MedicationRequest names as its product: its concept, or its Medication's (contained or
referenced) code and ingredients, and the reference's display."""

from __future__ import annotations

from cds.fhir.models import CodeableConcept, Medication, MedicationRequest


def medication_of(request: MedicationRequest,
                  medications: dict[str, Medication]) -> tuple[list[CodeableConcept], Medication | None]:
    """(concepts naming the product, the Medication resource or None). A reference that carries only
    a display names the product by that text."""
    if request.medicationCodeableConcept is not None:
        return [request.medicationCodeableConcept], None
    reference = request.medicationReference
    target = (reference.reference or "") if reference else ""
    medication = None
    if target.startswith("#"):
        medication = next((r for r in request.contained or [] if r.id == target[1:]), None)
    elif target:
        medication = medications.get("/".join(target.split("/")[-2:]))
    concepts = []
    if medication is not None:
        concepts.append(medication.code)
        concepts += [i.itemCodeableConcept for i in medication.ingredient or [] if i.itemCodeableConcept]
    if reference is not None and reference.display:
        concepts.append(CodeableConcept(text=reference.display))
    return [c for c in concepts if c is not None], medication
