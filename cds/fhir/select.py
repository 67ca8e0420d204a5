"""Which resources a rule can ever read, chosen from the raw JSON before the models of
cds.fhir.models are built (architecture.md "Select before you build"): most of a real record (glucose, lipids, other
drugs) is never looked at, and validating it as a full model was most of a request's cost.

Observations count only through the LOINC codes of the labs table (clinical-rules.md §1);
MedicationRequests only when they could be B12 orders (a product code or word of the catalogue,
or a Medication reference, which is resolved later). Every other type is kept. A resource whose
shape is too odd to tell is kept, so that validation can skip and count it as usual.
"""

from __future__ import annotations

from typing import Any

import orjson

LOINC = "http://loinc.org"


class ResourceSelector:
    """`selector(raw)`: whether a raw prefetch resource can be read by some rule (the rulebook's lab
    codes and B12 product catalogue decide)."""

    def __init__(self, facts_config: dict[str, Any], valuesets: dict[str, Any]):
        self._loinc = {code for spec in facts_config["labs"].values() for code in spec["loinc"]}
        self._loinc |= set(facts_config["intrinsic_factor_antibody"]["loinc"])
        codes = [code for entry in valuesets["products"] for code in entry["code"].values()]
        # A code as a JSON string's start; NDC codes are written in several layouts (codes.ndc_candidates),
        # so any NDC coding is kept and left to the catalogue to judge.
        marks = ([f'"{code}' for code in codes] + [f'"{uri}"' for uri in valuesets["systems"]["ndc"]]
                 + [entry["contains"] for entry in valuesets["product_text"]])
        self._product_marks = [mark.lower().encode() for mark in marks]

    def __call__(self, raw: Any) -> bool:
        if not isinstance(raw, dict):
            return True
        kind = raw.get("resourceType")
        if kind == "Observation":
            return self._lab(raw)
        if kind == "MedicationRequest":
            return self._b12_order(raw)
        return True

    def _lab(self, raw: dict[str, Any]) -> bool:
        code = raw.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        if not isinstance(codings, list) or not all(isinstance(c, dict) for c in codings):
            return True
        return any(c.get("system") == LOINC and c.get("code") in self._loinc for c in codings)

    def _b12_order(self, raw: dict[str, Any]) -> bool:
        if "medicationReference" in raw:
            return True
        try:
            text = orjson.dumps(raw).lower()  # UTF-8 JSON; the marks are ASCII
        except TypeError:  # not JSON-serialisable after all (integers beyond 64 bits): let validation judge
            return True
        return any(mark in text for mark in self._product_marks)
