"""Matching FHIR codings against the rulebook's value sets, products and routes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds.fhir.models import CodeableConcept


@dataclass(frozen=True)
class Coding:
    """A (system, code, display) triple lifted out of a FHIR model."""

    system: str | None
    code: str | None
    display: str | None


def codings_of(concept: CodeableConcept | None) -> list[Coding]:
    """The codings of a CodeableConcept model (None-safe)."""
    if concept is None:
        return []
    return [Coding(c.system, c.code, c.display) for c in (concept.coding or [])]


def texts_of(concept: CodeableConcept | None) -> list[str]:
    """Free text of a CodeableConcept: its text and every coding display, lower-cased."""
    if concept is None:
        return []
    texts = [concept.text] + [c.display for c in (concept.coding or [])]
    return [text.lower() for text in texts if text]


class CodeSystems:
    """Maps system URIs to the short aliases used in rule data (icd10, snomed, ...)."""

    def __init__(self, systems: dict[str, list[str]]):
        self._alias = {uri: alias for alias, uris in systems.items() for uri in uris}

    def alias(self, system: str | None) -> str | None:
        return self._alias.get(system or "")


class ValueSet:
    """Codes per system alias; a trailing '*' is a prefix match (ICD-10 K50.*).

    ICD-10 codes are compared without dots and ignoring case, as EHRs write them either way:
    K50.0, K500 and k50.0 are one code, and K50 (the category) matches K50.*.
    """

    def __init__(self, systems: CodeSystems, codes: dict[str, list[str]], text: Iterable[str] = ()):
        self._systems = systems
        self._exact = {(alias, _comparable(alias, code)) for alias, values in codes.items()
                       for code in values if not code.endswith("*")}
        self._prefixes = [(alias, _comparable(alias, code[:-1])) for alias, values in codes.items()
                          for code in values if code.endswith("*")]
        words = "|".join(re.escape(word.lower()) for word in text)
        self._words = re.compile(rf"\b(?:{words})\b") if words else None   # one search per text for any word

    def matches(self, codings: Iterable[Coding], texts: Iterable[str] = ()) -> bool:
        for coding in codings:
            alias = self._systems.alias(coding.system)
            code = _comparable(alias, coding.code or "")
            if (alias, code) in self._exact:
                return True
            if code and any(alias == a and code.startswith(prefix) for a, prefix in self._prefixes):
                return True
        return self._words is not None and any(self._words.search(text) for text in texts)


class Answers:
    """Reads a result as yes (True), no (False) or unknown (None); negative is checked first."""

    def __init__(self, systems: CodeSystems, answers: dict[str, Any]):
        self.negative = ValueSet(systems, answers["negative"]["codes"], answers["negative"]["text"])
        self.positive = ValueSet(systems, answers["positive"]["codes"], answers["positive"]["text"])

    def read(self, codings: list[Coding], texts: list[str]) -> bool | None:
        if self.negative.matches(codings, texts):
            return False
        if self.positive.matches(codings, texts):
            return True
        return None


def _comparable(alias: str | None, code: str) -> str:
    code = code.strip()
    return code.replace(".", "").upper() if alias == "icd10" else code


def ndc_candidates(code: str) -> set[str]:
    """The 11-digit (5-4-2) forms an NDC may stand for, hyphenated or not."""
    parts = code.strip().split("-")
    if len(parts) == 3:
        widths = (5, 4, 2)
        return {"".join(part.zfill(width) for part, width in zip(parts, widths, strict=True))}
    digits = re.sub(r"\D", "", code)
    if len(digits) == 11:
        return {digits}
    if len(digits) == 10:  # 4-4-2, 5-3-2 or 5-4-1 without hyphens: try each layout
        return {"0" + digits, digits[:5] + "0" + digits[5:], digits[:9] + "0" + digits[9:]}
    return set()


def ndc_product_prefix(product_code: str) -> str:
    """'50633-310' → '506330310': labeler (5) + product (4), the start of every 11-digit form."""
    labeler, product = product_code.split("-")
    return labeler.zfill(5) + product.zfill(4)
