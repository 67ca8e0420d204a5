"""MedicationRequests → B12 order facts: product, route, dose in mcg, schedule, supply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.facts.codes import CodeSystems, codings_of, ndc_candidates, ndc_product_prefix, texts_of
from cds.facts.display import quantity_text, safe_units
from cds.facts.model import OrderFact
from cds.facts.units import Units
from cds.fhir.record import as_datetime

_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "a": 365.25}
PARENTERAL = {"im", "sc", "iv"}


@dataclass(frozen=True)
class Product:
    ingredient: str
    name: str
    cyanokit: bool = False
    concentration_mcg_per_ml: float | None = None
    container_mcg: float | None = None
    multi_dose_vial: bool | None = None


class OrderReader:
    """Reads B12 orders using the rulebook's product, route and regimen data."""

    def __init__(self, valuesets: dict[str, Any], regimen: dict[str, Any], units: Units):
        self._systems = CodeSystems(valuesets["systems"])
        self._products = valuesets["products"]
        self._product_text = valuesets["product_text"]
        self._routes = valuesets["routes"]
        self._route_words = {route: [re.compile(rf"(?<![\w.]){re.escape(w)}(?![\w])") for w in spec.get("text", [])]
                             for route, spec in self._routes.items()}
        self._regimen = regimen
        self._units = units

    def read(self, request: Any, medications: dict[str, Any], now: datetime,
             is_draft: bool) -> OrderFact | None:
        """The order fact, or None when the request is not for a B12 product."""
        concepts, medication = self._medication(request, medications)
        product = self._product(concepts)
        if product is None:
            return None
        product = self._with_medication_strength(product, medication)
        dosage = _dosage(request)
        route = self._route(dosage)
        dose_value, dose_unit, dose_ucum, dose_kind, dose_mcg = self._dose(dosage, product)
        interval, per_day, bounded = _schedule(dosage, self._regimen["days_per_month"])
        repeat = dosage.timing.repeat if dosage and dosage.timing else None
        authored = as_datetime(request.authoredOn)
        dispense_mcg = self._dispense_mcg(request, product)
        antidote = product.cyanokit or (
            product.ingredient == "hydroxo" and route == "iv"
            and (dose_mcg or 0) >= self._regimen["antidote_min_dose_mcg"])
        return OrderFact(
            id=request.id or "unidentified",
            ingredient=product.ingredient,
            product=safe_units(next((c.text for c in concepts if c.text), product.name)),
            antidote=antidote,
            cyanokit=product.cyanokit,
            route=route,
            route_text=route.upper() if route in PARENTERAL else ("unknown route" if route == "unknown" else route),
            parenteral=route in PARENTERAL,
            dose_kind=dose_kind,
            dose_unit_problem=dose_mcg is None and dose_kind not in ("mass",),
            status=request.status,
            intent=request.intent,
            has_reason=bool(request.reasonCode or request.reasonReference or request.note),
            reported_by_patient=_reported_by_patient(request),
            bounded=bounded,
            is_draft=is_draft,
            concentration_mcg_per_ml=product.concentration_mcg_per_ml,
            multi_dose_vial=product.multi_dose_vial,
            dose_value=dose_value,
            dose_unit=dose_unit,
            dose_mcg=dose_mcg,
            usual_dose_mcg=dose_mcg / 1000 if dose_mcg is not None else None,
            interval_days=_rounded(interval, 4),
            doses=repeat.count if repeat else None,
            regimen=self._regimen_of(interval),
            per_day=_rounded(per_day, 6),
            mcg_per_day=_rounded(dose_mcg * per_day, 3) if dose_mcg is not None and per_day else None,
            mcg_per_28d=_rounded(dose_mcg * per_day * 28, 3) if dose_mcg is not None and per_day else None,
            authored_days_ago=round((now - authored).total_seconds() / 86400, 2) if authored else None,
            dispense_mcg=dispense_mcg,
            supply_days=(_rounded(dispense_mcg / dose_mcg * interval, 2)
                         if dispense_mcg and dose_mcg and interval else None),
            dose_text=quantity_text(dose_value, dose_ucum, dose_unit),
            frequency_text=_frequency_text(dosage),
        )

    def _regimen_of(self, interval_days: float | None) -> str | None:
        if interval_days is None:
            return None
        if interval_days <= self._regimen["loading_max_interval_days"]:
            return "loading"
        return "maintenance" if interval_days >= self._regimen["maintenance_min_interval_days"] else "other"

    def _medication(self, request: Any, medications: dict[str, Any]) -> tuple[list[Any], Any]:
        """(concepts naming the product, Medication or None): the request's concept, or the contained
        or referenced Medication's code and ingredients, and the reference's display."""
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
            concepts.append(_TextConcept(reference.display))
        return [c for c in concepts if c is not None], medication

    def _product(self, concepts: list[Any]) -> Product | None:
        for coding in (coding for concept in concepts for coding in codings_of(concept)):
            system = self._systems.alias(coding.system)
            for entry in self._products:
                (code_system, code), = entry["code"].items()
                if system != code_system or not coding.code:
                    continue
                if (code_system == "ndc" and any(c.startswith(ndc_product_prefix(code))
                                                 for c in ndc_candidates(coding.code))) \
                        or coding.code.strip() == code:
                    return Product(entry["ingredient"], entry["name"], entry.get("cyanokit", False),
                                   entry["concentration_mcg_per_ml"], entry.get("container_mcg"),
                                   entry.get("multi_dose_vial"))
        text = " ".join(text for concept in concepts for text in texts_of(concept))
        for entry in self._product_text:
            if entry["contains"] in text:
                return Product(entry["ingredient"], entry["contains"], entry.get("cyanokit", False))
        return None

    def _with_medication_strength(self, product: Product, medication: Any) -> Product:
        """Concentration and container size from a Medication resource, where it states them."""
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
            container = self._quantity_in(amount.numerator, "ug")
            ml = self._quantity_in(amount.numerator, "mL")
            if container is None and ml is not None and concentration:
                container = ml * concentration
        return Product(product.ingredient, product.name, product.cyanokit, concentration,
                       container, product.multi_dose_vial)

    def _route(self, dosage: Any) -> str:
        concept = dosage.route if dosage else None
        for coding in codings_of(concept):
            if self._systems.alias(coding.system) == "snomed":
                for route, spec in self._routes.items():
                    if coding.code in spec.get("snomed", []):
                        return route
        texts = texts_of(concept) + ([dosage.text.lower()] if dosage and dosage.text else [])
        for text in texts:
            for route, words in self._route_words.items():
                if any(word.search(text) for word in words):
                    return route
        return "unknown"

    def _dose(self, dosage: Any, product: Product
              ) -> tuple[float | None, str | None, str | None, str, float | None]:
        """(value, unit as written, UCUM unit, kind, mcg or None)."""
        quantity = None
        for dose_and_rate in (dosage.doseAndRate or []) if dosage else []:
            quantity = dose_and_rate.doseQuantity or (dose_and_rate.doseRange.high
                                                      if dose_and_rate.doseRange else None)
            if quantity is not None:
                break
        if quantity is None or quantity.value is None:
            return None, None, None, "none", None
        value = float(quantity.value)
        unit = quantity.unit or quantity.code
        ucum = self._units.of(quantity)
        kind = self._units.dose_kind(ucum, unit)
        return value, unit, ucum, kind, self._amount_mcg(value, ucum, kind, product)

    def _amount_mcg(self, value: float, ucum: str | None, kind: str, product: Product) -> float | None:
        if kind == "mass":
            return self._units.convert(value, ucum, "ug")
        if kind == "volume" and product.concentration_mcg_per_ml:
            ml = self._units.convert(value, ucum, "mL")
            return ml * product.concentration_mcg_per_ml if ml is not None else None
        if kind == "container" and product.container_mcg:
            return value * product.container_mcg
        return None

    def _quantity_in(self, quantity: Any, target: str) -> float | None:
        """A FHIR Quantity in `target` (UCUM), or None when it has no value or cannot convert."""
        if quantity.value is None:
            return None
        ucum = self._units.of(quantity)
        return self._units.convert(float(quantity.value), ucum, target)

    def _dispense_mcg(self, request: Any, product: Product) -> float | None:
        dispense = request.dispenseRequest
        quantity = dispense.quantity if dispense else None
        if quantity is None or quantity.value is None:
            return None
        ucum = self._units.of(quantity)
        kind = self._units.dose_kind(ucum, quantity.unit or quantity.code)
        return self._amount_mcg(float(quantity.value), ucum, kind, product)


def _dosage(request: Any) -> Any:
    """The first dosage instruction that states a dose (a loading-then-maintenance order may begin
    with text only), else the first."""
    dosages = request.dosageInstruction or []
    return next((d for d in dosages if any(r.doseQuantity or r.doseRange for r in d.doseAndRate or [])),
                dosages[0] if dosages else None)


class _TextConcept:
    """A CodeableConcept stand-in for a Reference that only carries a display."""

    def __init__(self, text: str):
        self.text = text
        self.coding: list[Any] = []


def _schedule(dosage: Any, days_per_month: float) -> tuple[float | None, float | None, bool]:
    """(interval_days, per_day, bounded) from timing.repeat, reading it as the most frequent it
    allows: frequencyMax over frequency, one dose per timeOfDay or dayOfWeek when no frequency."""
    repeat = dosage.timing.repeat if dosage and dosage.timing else None
    if repeat is None:
        return None, None, False
    bounded = bool(repeat.count or repeat.boundsDuration
                   or (repeat.boundsPeriod and repeat.boundsPeriod.end))
    period, unit = repeat.period, repeat.periodUnit
    frequency = max(repeat.frequency or 0, repeat.frequencyMax or 0)
    if not frequency and repeat.timeOfDay:
        frequency, period, unit = len(repeat.timeOfDay), period or 1, unit or "d"
    elif not frequency and repeat.dayOfWeek:
        frequency, period, unit = len(repeat.dayOfWeek), period or 1, unit or "wk"
    unit_days = days_per_month if unit == "mo" else _PERIOD_DAYS.get(unit or "")
    if period is None or unit_days is None or float(period) <= 0:
        return None, None, bounded
    period_days, frequency = float(period) * unit_days, frequency or 1
    return period_days / frequency, frequency / period_days, bounded
def _rounded(value: float | None, digits: int) -> float | None:
    """Rounded for facts and card text; arithmetic is done on the unrounded values."""
    return round(value, digits) if value is not None else None


_REPORTER = re.compile(r"(?:^|/)(Patient|RelatedPerson)/[^/]+(?:/_history/[^/]+)?$")


def _reported_by_patient(request: Any) -> bool:
    """R4: reportedBoolean, or reportedReference to a Patient or RelatedPerson (also versioned or typed)."""
    if request.reportedBoolean:
        return True
    reference = request.reportedReference
    if reference is None:
        return False
    return reference.type in ("Patient", "RelatedPerson") or bool(_REPORTER.search(reference.reference or ""))


def _frequency_text(dosage: Any) -> str | None:
    repeat = dosage.timing.repeat if dosage and dosage.timing else None
    if repeat is None or repeat.period is None or not repeat.periodUnit:
        return None
    names = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}
    unit = names.get(repeat.periodUnit, repeat.periodUnit)
    period = float(repeat.period)
    frequency = int(repeat.frequency or 1)
    every = f"every {unit}" if period == 1 else f"every {period:g} {unit}s"
    if repeat.frequencyMax and repeat.frequencyMax > frequency:
        return f"{frequency} to {repeat.frequencyMax} times {every}"
    if frequency == 1:
        return {"every day": "daily", "every week": "weekly", "every month": "monthly"}.get(every, every)
    return f"{frequency} times {every}"
