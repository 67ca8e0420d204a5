"""MedicationRequests in older or sloppy shapes, and drafts read leniently, never skipped (clinical-rules.md §1).

Every MedicationRequest, prefetch or draft, is put into R4 shape before it is read (`r4_shape`: a
dosage's `doseQuantity` without `doseAndRate`, `doseAndRate` or `category` as an object, a coding
as an object or its code as a number), then read with the one model (cds.fhir.models). Prefetch
data that still fails validation is skipped; a draft is the order under evaluation, so it is read
whatever its shape (`read_draft`): the required elements it lacks are supplied (no `intent`), a
part that still fails validation is left out and named in the draft's notes, so the card can say
what could not be read, and a draft that cannot be read at all is kept as its text alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from cds.fhir.models import MedicationRequest

_MAX_DROPS = 20
_DOSE_PARTS = ("doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio")
_LISTS = ("category", "dosageInstruction", "reasonCode", "note", "identifier", "contained")
_REQUIRED = {"status": "draft", "intent": "order", "subject": {"display": "the patient of this request"}}
_MEDICATION = ("medicationCodeableConcept", "medicationReference")
_CODING_TEXT = ("system", "code", "display", "version")


def read_draft(raw: dict[str, Any]) -> tuple[MedicationRequest, dict[str, Any], list[str]]:
    """(MedicationRequest model, the R4 JSON it was read from, what could not be read)."""
    draft, notes = _completed(copy.deepcopy(r4_shape(raw))), []   # parts are dropped from this copy
    for _ in range(_MAX_DROPS):
        try:
            return MedicationRequest.model_validate(draft), draft, notes
        except (ValidationError, ValueError, TypeError) as error:
            dropped = _drop_first_error(draft, error)
            if dropped is None:
                break
            notes.append(dropped)
            draft = _completed(draft)
    text_only = _text_only(raw)
    notes.append("the order could not be read as a FHIR MedicationRequest; only its text was read")
    return MedicationRequest.model_validate(text_only), text_only, notes


def _completed(draft: dict[str, Any]) -> dict[str, Any]:
    """The draft with the elements R4 requires and it lacks supplied (a draft has no status yet)."""
    for key, value in _REQUIRED.items():
        draft.setdefault(key, copy.deepcopy(value))
    if not any(key in draft for key in _MEDICATION):
        draft["medicationCodeableConcept"] = {"text": "(no medication given)"}
    return draft


def r4_shape(raw: dict[str, Any]) -> dict[str, Any]:
    """A MedicationRequest's JSON with older or sloppy shapes put into R4 form (nothing is removed): `raw`
    itself when it is in R4 form already, else new JSON sharing the parts that are (`raw` is never changed:
    copying every resource whole cost a fifth of a small call)."""
    draft = dict(raw)
    if isinstance(draft.get("medicationCodeableConcept"), str):
        draft["medicationCodeableConcept"] = {"text": draft["medicationCodeableConcept"]}
    if isinstance(draft.get("dosageInstruction"), str):
        draft["dosageInstruction"] = {"text": draft["dosageInstruction"]}
    for key in _LISTS:
        if isinstance(draft.get(key), dict):
            draft[key] = [draft[key]]
    dosages = draft.get("dosageInstruction")
    if isinstance(dosages, list):
        draft["dosageInstruction"] = _same_or_new([_dosage_shape(dosage) for dosage in dosages], dosages)
    draft = _codings_shape(draft)
    return raw if _unchanged(draft, raw) else draft


def _codings_shape(node: Any) -> Any:
    """`node` with every CodeableConcept's `coding` as a list, and a coding's numbers as strings (RxNorm
    309594 written as a number): the code that names the product must not be dropped. The same object
    where nothing changes."""
    if isinstance(node, list):
        return _same_or_new([_codings_shape(item) for item in node], node)
    if not isinstance(node, dict):
        return node
    shaped = {key: _codings_shape(value) for key, value in node.items() if key != "coding"}
    if "coding" in node:
        codings = node["coding"]
        listed = [codings] if isinstance(codings, dict) else codings if isinstance(codings, list) else None
        shaped["coding"] = codings if listed is None else _same_or_new([_coding_text(c) for c in listed], codings)
    return node if _unchanged(shaped, node) else shaped


def _coding_text(coding: Any) -> Any:
    if not isinstance(coding, dict):
        return coding
    numbers = {key: str(value) for key, value in coding.items()
               if key in _CODING_TEXT and isinstance(value, int | float) and not isinstance(value, bool)}
    return {**coding, **numbers} if numbers else coding


def _dosage_shape(dosage: Any) -> Any:
    if not isinstance(dosage, dict):
        return dosage
    shaped = dict(dosage)
    if isinstance(shaped.get("doseAndRate"), dict):
        shaped["doseAndRate"] = [shaped["doseAndRate"]]
    loose = {part: shaped.pop(part) for part in _DOSE_PARTS if part in shaped}
    if loose:
        rates = shaped.setdefault("doseAndRate", [{}])
        if isinstance(rates, list) and rates and isinstance(rates[0], dict):
            shaped["doseAndRate"] = [{**loose, **rates[0]}, *rates[1:]]
    if isinstance(shaped.get("route"), str):
        shaped["route"] = {"text": shaped["route"]}
    return dosage if _unchanged(shaped, dosage) else shaped


def _unchanged(shaped: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether `shaped` holds every key of `node`, and nothing else, as the very same objects."""
    return len(shaped) == len(node) and all(key in node and value is node[key] for key, value in shaped.items())


def _same_or_new(items: list[Any], original: Any) -> Any:
    """`original` when `items` are its own items, the same objects in order; else the new list."""
    if isinstance(original, list) and len(items) == len(original) and all(
            new is old for new, old in zip(items, original, strict=True)):
        return original
    return items


def _drop_first_error(draft: dict[str, Any], error: Exception) -> str | None:
    """Remove the deepest part of `draft` the first validation error points into; say what it was."""
    if not isinstance(error, ValidationError) or not error.errors():
        return None
    first = error.errors()[0]
    node: Any = draft
    path: list[str | int] = []
    for part in first.get("loc", ()):
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) \
                and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        else:
            break
    if not path or path[0] == "resourceType":
        return None
    return _drop(draft, path, first)


def _drop(draft: dict[str, Any], path: list[str | int], error: Any) -> str:
    parent: Any = draft
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    where = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    return f"{where} ({error.get('msg', 'invalid')})"


def _text_only(raw: dict[str, Any]) -> dict[str, Any]:
    """A minimal MedicationRequest carrying only the draft's id and all its text."""
    draft_id = raw.get("id")
    text = " ".join(_strings(raw))[:2000] or "(no text)"
    return {"resourceType": "MedicationRequest", **_REQUIRED,
            **({"id": draft_id} if isinstance(draft_id, str) and _valid_id(draft_id) else {}),
            "medicationCodeableConcept": {"text": text}}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("resourceType", "id", "system", "reference", "status", "intent"):
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-." for c in value)
