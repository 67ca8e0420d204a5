"""A dose or supply quantity → micrograms, by the unit it is written in.

Mass converts directly; a volume needs the product's concentration; a container (vial, ampoule)
its content; a count (tablet, spray, a UCUM annotation such as {pill}) the strength of one unit.
Whatever lacks what it needs is not converted, and says why: units are never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cds.facts.display import format_number, mass_text, plural, quantity_text
from cds.facts.products import Product
from cds.facts.units import Units
from cds.fhir.models import Quantity


@dataclass(frozen=True)
class Dose:
    kind: str                        # mass | volume | container | count | unknown | none
    value: float | None = None
    unit: str | None = None          # as written
    text: str | None = None          # "10 mL"
    mcg: float | None = None
    arithmetic: str | None = None    # "10 mL × 1,000 mcg/mL = 10,000 mcg"
    problem: str | None = None       # why no mcg, for card text


_NAMED_FORMS = frozenset({"tablet", "capsule", "lozenge", "spray", "drop", "puff"})


class DoseReader:
    """Reads Quantities with the rulebook's unit words (facts.yaml `dose_units`)."""

    def __init__(self, units: Units, dose_units: dict[str, list[str]]):
        self._units = units
        self._words = {word.lower(): kind for kind, words in dose_units.items() for word in words}

    def kind(self, ucum: str | None, *written: str | None) -> str:
        """mass | volume | container | count | unknown, for a quantity's unit."""
        measured = self._units.dimension(ucum)
        if measured is not None:
            return measured
        for text in filter(None, written):
            word = text.strip().lower()
            bare = word.strip("{}")
            kind = self._words.get(bare) or self._words.get(bare.rstrip("s"))
            if kind:
                return kind
            if word.startswith("{") and word.endswith("}"):
                return "count"   # UCUM annotations ({pill}, {tbl}, {#}) count units of the product
        return "unknown"

    def read(self, quantity: Quantity | None, product: Product) -> Dose:
        """The quantity in mcg of the product, or the reason it cannot be. A dose of zero or below is no dose."""
        if quantity is None or quantity.value is None:
            return Dose("none", problem="no dose quantity")
        value = float(quantity.value)
        written = (quantity.unit or quantity.code or "").strip() or None
        ucum = self._units.of(quantity)
        text = quantity_text(value, ucum, written)
        if value <= 0:
            return Dose("none", problem=f"a dose of {text}, which is not a dose")
        kind = self.kind(ucum, quantity.unit, quantity.code)
        mcg, per_unit, problem = self._mcg(value, ucum, kind, written, product)
        arithmetic = None
        if mcg is not None:
            total = f"{format_number(mcg)} mcg"
            arithmetic = f"{text} × {per_unit} = {total}" if per_unit else (
                total if ucum == "ug" else f"{text} = {total}")
            if kind in ("count", "container"):   # as clinicians write it: "1 mg (1 tablet)"
                text = f"{mass_text(mcg)} ({format_number(value)} {plural(self._noun(written, product), value)})"
        return Dose(kind, value, written, text, mcg, arithmetic, problem)

    def read_written(self, value: float, unit: str, product: Product) -> Dose:
        """A dose read from text ("1000 mcg", "1 ampoule"), as if it had been written as a Quantity."""
        return self.read(Quantity(value=Decimal(str(value)), unit=unit), product)

    def _noun(self, written: str | None, product: Product) -> str:
        """What one unit is called: the product's form for a generic count ({pill}, each), else as written."""
        word = (written or "").strip("{}").lower()
        if product.form and self._words.get(word.rstrip("s")) == "count" and word not in _NAMED_FORMS:
            return product.form
        return word or "unit"

    def _mcg(self, value: float, ucum: str | None, kind: str, written: str | None,
             product: Product) -> tuple[float | None, str | None, str | None]:
        """(mcg, the strength it was multiplied by, problem)."""
        unit = written or "(no unit)"
        if kind == "mass":
            return self._units.convert(value, ucum, "ug"), None, None
        if kind == "volume":
            ml = self._units.convert(value, ucum, "mL")
            if product.concentration_mcg_per_ml and ml is not None:
                strength = f"{format_number(product.concentration_mcg_per_ml)} mcg/mL"
                return ml * product.concentration_mcg_per_ml, strength, None
            return None, None, f"a volume ({unit}) of a product whose concentration is not known"
        if kind == "container":
            if product.container_mcg:
                return value * product.container_mcg, f"{format_number(product.container_mcg)} mcg", None
            return None, None, (f"'{unit}' of {product.name}, whose container size is not known "
                                "(it may come in several sizes)")
        if kind == "count":
            if product.unit_strength_mcg:
                return value * product.unit_strength_mcg, f"{format_number(product.unit_strength_mcg)} mcg", None
            return None, None, f"'{unit}' counts units of a product whose strength per unit is not known"
        return None, None, f"the unit '{unit}' is not a mass, a volume or a countable form"
