"""Which B12 product an order names, and what is known of its strength and containers.

The catalogue is data (`products`, `product_text` in valuesets.yaml); this module only matches
codes and words against it and reads strengths a Medication or a standard drug name states.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from cds.facts.codes import CodeSystems, codings_of, ndc_candidates, ndc_product_prefix, texts_of
from cds.facts.units import Units
from cds.fhir.models import CodeableConcept, Medication, Quantity

ORAL_FORMS = frozenset({"tablet", "capsule", "lozenge", "liquid"})
_INJECTABLE_WORDS = re.compile(r"\b(inj|injection|injectable|ampoules?|ampules?|vials?|for infusion|infusion)\b")
_MASS = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(mcg|micrograms?|ug|µg|μg|mg|milligrams?|g)\b"
# "1000 MCG/ML", "1 mg/1 ml", "1mg/1ml" (dm+d names the strength per container volume)
_PER_VOLUME = re.compile(_MASS + r"\s*(?:/|per)\s*(\d+(?:\.\d+)?)?\s*(ml|millilit(?:re|er))\b")
_PER_UNIT = re.compile(_MASS)
_FORM_WORDS = re.compile(r"\b(tablet|capsule|lozenge|spray)s?\b")
# A container size in the product name: "10 mL multi-dose vial", "1 mL prefilled syringe".
_CONTAINER_ML = re.compile(r"(\d+(?:\.\d+)?)\s*ml\s+(?:(multi|single)-?dose\s+)?"
                           r"(prefilled syringe|syringe|cartridge|pen|vial|ampoule|ampule)s?\b")


@dataclass(frozen=True)
class Product:
    """What the order's medication is, and what is known of its strengths."""

    ingredient: str                            # cyano | hydroxo | methyl | unknown
    name: str
    cyanokit: bool = False
    injectable: bool = False
    concentration_mcg_per_ml: float | None = None
    container_mcg: float | None = None         # content of one vial/ampoule, when it has one size
    multi_dose_vial: bool | None = None
    unit_strength_mcg: float | None = None     # per tablet, capsule, lozenge or spray
    form: str | None = None                    # the catalogue's form: injection, tablet, spray, …


class ProductCatalog:
    """The rulebook's products: codes first, then words (brands before generic names)."""

    def __init__(self, valuesets: dict[str, Any], units: Units):
        self._systems = CodeSystems(valuesets["systems"])
        self._products = valuesets["products"]
        self._product_text = valuesets["product_text"]
        self._units = units

    def identify(self, concepts: list[CodeableConcept], extra_text: str = "") -> Product | None:
        """The product the concepts name, or None when nothing names a B12 product.

        `extra_text` (the dosage text) is read only when the medication itself names nothing,
        so an order whose product could not be read is still recognised by what it says.
        """
        coded = self._by_code(concepts)
        text = " ".join(text for concept in concepts for text in texts_of(concept))
        product = coded or self._by_text(text) or (self._by_text(extra_text) if extra_text else None)
        if product is None:
            return None
        return self.with_text_strength(product, text)

    def _by_code(self, concepts: list[CodeableConcept]) -> Product | None:
        for coding in (coding for concept in concepts for coding in codings_of(concept)):
            system = self._systems.alias(coding.system)
            for entry in self._products:
                if not coding.code or system not in entry["code"]:
                    continue
                code = entry["code"][system]
                ndc = system == "ndc" and any(c.startswith(ndc_product_prefix(code))
                                              for c in ndc_candidates(coding.code))
                if ndc or coding.code.strip() == code:
                    form = entry.get("form", "injection")
                    return Product(entry["ingredient"], entry["name"], entry.get("cyanokit", False),
                                   form == "injection", entry.get("concentration_mcg_per_ml"),
                                   entry.get("container_mcg"), entry.get("multi_dose_vial"),
                                   entry.get("unit_strength_mcg"), form)
        return None

    def _by_text(self, text: str) -> Product | None:
        for entry in self._product_text:
            if entry["contains"] in text:
                return Product(entry["ingredient"], entry.get("name", entry["contains"]), entry.get("cyanokit", False),
                               injectable=entry.get("form") == "injection",
                               concentration_mcg_per_ml=entry.get("concentration_mcg_per_ml"),
                               container_mcg=entry.get("container_mcg"), form=entry.get("form"),
                               unit_strength_mcg=entry.get("unit_strength_mcg"))
        return None

    def with_text_strength(self, product: Product, text: str) -> Product:
        """Strengths a drug name states ("1000 MCG/ML Injectable Solution", "1 MG Oral Tablet",
        "1mg/1ml solution for injection ampoules"), where the catalogue gave none."""
        text = text.lower()
        changes: dict[str, Any] = {"injectable": product.injectable or bool(_INJECTABLE_WORDS.search(text))}
        if product.form is None and (form := _FORM_WORDS.search(text)) and not changes["injectable"]:
            changes["form"] = form.group(1)
        per_volume = _PER_VOLUME.search(text)
        if per_volume:
            mass_text, unit, volume_text, _ = per_volume.groups()
            mcg = self._units.convert(_number(mass_text), self._units.ucum(unit, None, unit), "ug")
            volume = float(volume_text or 1)
            if mcg is not None and volume > 0:
                changes.setdefault("concentration_mcg_per_ml", product.concentration_mcg_per_ml or mcg / volume)
                if volume_text and re.search(r"\bamp(?:o)?ules?\b|prefilled syringe", text):
                    changes["container_mcg"] = product.container_mcg or mcg
        elif (unit_mass := _PER_UNIT.search(text)) and not changes["injectable"]:
            unit = self._units.ucum(unit_mass.group(2), None, None)
            mcg = self._units.convert(_number(unit_mass.group(1)), unit, "ug")
            changes["unit_strength_mcg"] = product.unit_strength_mcg or mcg
        container_ml = _CONTAINER_ML.search(text)
        concentration = changes.get("concentration_mcg_per_ml") or product.concentration_mcg_per_ml
        if container_ml and concentration and product.container_mcg is None:
            changes["container_mcg"] = float(container_ml.group(1)) * concentration
            doses, container = container_ml.group(2), container_ml.group(3)
            changes["multi_dose_vial"] = doses == "multi" or (container == "vial" and doses is None
                                                               and product.multi_dose_vial)
        return replace(product, **{key: value for key, value in changes.items() if value is not None})

    def with_medication(self, product: Product, medication: Medication | None) -> Product:
        """Strength, container size and form from a Medication resource, where it states them."""
        if medication is None:
            return product
        concentration = product.concentration_mcg_per_ml
        for ingredient in medication.ingredient or []:
            ratio = ingredient.strength
            if ratio and ratio.numerator and ratio.denominator and ratio.numerator.value:
                mcg = self._quantity_in(ratio.numerator, "ug")
                ml = self._quantity_in(ratio.denominator, "mL")
                if mcg is not None and ml:
                    concentration = mcg / ml
        container = product.container_mcg
        amount = medication.amount
        if amount and amount.numerator and amount.numerator.value is not None:
            ml = self._quantity_in(amount.numerator, "mL")
            container = self._quantity_in(amount.numerator, "ug") or (
                ml * concentration if ml is not None and concentration else None)
        form = " ".join(texts_of(medication.form))
        injectable = product.injectable or bool(_INJECTABLE_WORDS.search(form))
        return replace(product, concentration_mcg_per_ml=concentration, container_mcg=container, injectable=injectable)

    def _quantity_in(self, quantity: Quantity, target: str) -> float | None:
        """A FHIR Quantity in `target` (UCUM), or None when it has no value or cannot convert."""
        if quantity.value is None:
            return None
        return self._units.convert(float(quantity.value), self._units.of(quantity), target)


def _number(text: str) -> float:
    """'1,000' or '1000.5' as a number (thousands separators as card text writes them)."""
    return float(text.replace(",", ""))


def injectable_words(text: str) -> bool:
    """Whether free text (dosage instructions) says the product is injected."""
    return bool(_INJECTABLE_WORDS.search(text.lower()))
