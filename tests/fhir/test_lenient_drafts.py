"""Drafts are read leniently and never skipped (cds.fhir.lenient)."""

from __future__ import annotations

import copy

from cds.fhir.lenient import r4_shape, read_draft

BASE = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "cyanocobalamin injection"}}


def test_older_shapes_are_put_into_r4_without_notes():
    raw = BASE | {"category": {"text": "community"}, "dosageInstruction": [
        {"doseQuantity": {"value": 1, "unit": "mg"}, "route": "IM"},
        {"doseAndRate": {"doseQuantity": {"value": 2, "unit": "mg"}}}]}
    raw.pop("intent")
    model, r4, notes = read_draft(raw)
    assert notes == [] and model.intent == "order" and len(r4["category"]) == 1
    assert model.dosageInstruction[0].doseAndRate[0].doseQuantity.value == 1
    assert model.dosageInstruction[0].route.text == "IM"
    assert model.dosageInstruction[1].doseAndRate[0].doseQuantity.value == 2
    assert r4["dosageInstruction"][0]["doseAndRate"] == [{"doseQuantity": {"value": 1, "unit": "mg"}}]
    assert "intent" not in raw  # the caller's JSON is not changed


def test_an_invalid_part_is_left_out_and_named():
    raw = BASE | {"dosageInstruction": [{"text": "1 mg IM", "doseAndRate": [{"doseQuantity": {"value": "lots"}}]}],
                  "authoredOn": "yesterday"}
    model, _, notes = read_draft(raw)
    assert model.id == "d1" and model.dosageInstruction[0].text == "1 mg IM"
    assert any(note.startswith("authoredOn") for note in notes)
    assert any("doseQuantity" in note for note in notes)


def test_an_unreadable_resource_keeps_its_text():
    raw = {"resourceType": "MedicationRequest", "id": "d2", "contained": "nonsense",
           "medicationCodeableConcept": 42, "note": [{"text": "hydroxocobalamin 1 mg as directed"}],
           "status": {"weird": True}}
    model, _, notes = read_draft(raw)
    assert model.id == "d2" and notes
    text = model.medicationCodeableConcept.text if model.medicationCodeableConcept else ""
    notes_text = " ".join(n.text for n in model.note or [])
    assert "hydroxocobalamin" in text + notes_text


def test_a_coding_written_as_an_object_or_a_number_keeps_the_product_code():
    raw = BASE | {"medicationCodeableConcept": {"coding": {"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                           "code": 309594}},
                  "dosageInstruction": [{"route": {"coding": {"code": "78421000"}}}]}
    model, _, notes = read_draft(raw)
    assert notes == []
    assert model.medicationCodeableConcept.coding[0].code == "309594"
    assert model.dosageInstruction[0].route.coding[0].code == "78421000"


def test_reshaping_never_changes_the_callers_json_and_keeps_r4_json_as_it_is():
    """Every MedicationRequest is reshaped on every call: JSON already in R4 form is read as it is (no copy),
    sloppy JSON gets a new shape while the caller's stays untouched, even where a draft's part is dropped."""
    r4 = BASE | {"dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}]}]}
    assert r4_shape(r4) is r4
    sloppy = BASE | {"category": {"coding": {"code": 5}}, "dosageInstruction": [
        {"doseQuantity": {"value": 1, "unit": "mg"}, "route": "IM", "doseAndRate": {"rateQuantity": {"value": 2}}},
        {"doseAndRate": [{"doseQuantity": {"value": "lots"}}]}]}
    before = copy.deepcopy(sloppy)
    shaped = r4_shape(sloppy)
    assert sloppy == before
    assert shaped["category"] == [{"coding": [{"code": "5"}]}]
    assert shaped["dosageInstruction"][0]["doseAndRate"] == [{"rateQuantity": {"value": 2},
                                                              "doseQuantity": {"value": 1, "unit": "mg"}}]
    assert shaped["dosageInstruction"][1] is sloppy["dosageInstruction"][1]     # unchanged parts are shared
    _, _, notes = read_draft(sloppy)
    assert notes and sloppy == before
