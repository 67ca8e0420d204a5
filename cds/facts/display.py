"""Text for people: numbers, units and codes as card text shows them (ISMP-safe: "mcg", never "µg")."""

from __future__ import annotations

import math
import re
from typing import Any

from cds.facts.codes import codings_of, texts_of

_MICROGRAM = re.compile(r"µg|μg|\bug\b|\bmcgs\b", re.IGNORECASE)
_UCUM_SHOWN = {"ug": "mcg", "mg": "mg", "g": "g", "mL": "mL", "L": "L"}


def format_number(value: float) -> str:
    """1000000 → '1,000,000'; 0.453 → '0.453'; never an exponent, no trailing zeros."""
    if float(value).is_integer():
        return f"{int(value):,}"
    places = 1 if abs(value) >= 100 else 3   # 333.3 mcg, not 333.333; 0.453 µmol/L stays
    return f"{value:,.{places}f}".rstrip("0").rstrip(".")


def mass_text(mcg: float) -> str:
    """1000 → '1 mg', 500 → '500 mcg', 1500 → '1.5 mg': a mass as clinicians write it."""
    return f"{format_number(mcg / 1000)} mg" if mcg >= 1000 else f"{format_number(mcg)} mcg"


def plural(noun: str, count: float) -> str:
    """'tablet' → 'tablets' unless exactly one; 'mL' and other units stay as they are."""
    if count == 1 or not noun.isalpha() or not noun.islower() or noun.endswith("s"):
        return noun
    return f"{noun}es" if noun.endswith(("ch", "sh", "x")) else f"{noun}s"


def safe_units(text: str) -> str:
    """Text with every microgram abbreviation written as 'mcg'."""
    return _MICROGRAM.sub("mcg", text)


def quantity_text(value: float | None, ucum: str | None, written: str | None) -> str | None:
    """'1000 mg', from the unit the value was read in (its UCUM code), else as written (a UCUM
    annotation without its braces: '1 pill' for {pill})."""
    if value is None:
        return None
    unit = _UCUM_SHOWN.get(ucum or "") or safe_units((written or "").strip().strip("{}")) or "(no unit)"
    return f"{format_number(value)} {unit}"


def concept_text(concept: Any) -> str:
    """A CodeableConcept for card text: its text or a display, else its code."""
    texts = texts_of(concept)
    if texts:
        return texts[0]
    code = next((c.code for c in codings_of(concept) if c.code), None)
    return f"code {code}" if code else "unnamed finding"


def duration_text(days: float) -> str:
    """'24 weeks' for a whole number of weeks, else '20 days'."""
    weeks = days / 7
    if days >= 14 and abs(weeks - round(weeks)) < 0.05:
        return f"{format_number(round(weeks))} weeks"
    return f"{format_number(round(days))} days"


def days_ago_text(days: float) -> str:
    """'97 days ago': whole days elapsed."""
    whole = math.floor(days)
    return "today" if whole < 1 else f"{format_number(whole)} day{'s' if whole != 1 else ''} ago"
