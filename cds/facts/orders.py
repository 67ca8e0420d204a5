"""MedicationRequests → B12 order facts, composed from the product, dose, schedule and route units."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from cds.facts.codes import CodeSystems, codings_of, texts_of
from cds.facts.display import safe_units
from cds.facts.dose import Dose, DoseReader
from cds.facts.medication import medication_of
from cds.facts.model import OrderFact
from cds.facts.products import ORAL_FORMS, Product, ProductCatalog, injectable_words
from cds.facts.schedule import Schedule, read_schedule
from cds.facts.units import Units
from cds.fhir.models import CodeableConcept, Dosage, Medication, MedicationRequest, Quantity
from cds.fhir.record import as_datetime

PARENTERAL = {"im", "sc", "iv"}


class OrderReader:
    """Reads B12 orders using the rulebook's product, unit, route and regimen data."""

    def __init__(self, valuesets: dict[str, Any], facts_config: dict[str, Any], units: Units):
        self._systems = CodeSystems(valuesets["systems"])
        self._catalog = ProductCatalog(valuesets, units)
        self._doses = DoseReader(units, facts_config["dose_units"])
        self._routes = valuesets["routes"]
        self._route_words = {route: [re.compile(rf"(?<![\w.]){re.escape(w)}(?![\w])") for w in spec.get("text", [])]
                             for route, spec in self._routes.items()}
        self._regimen = facts_config["regimen"]

    def read(self, request: MedicationRequest, medications: dict[str, Medication], now: datetime, is_draft: bool,
             notes: list[str] | tuple[str, ...] = ()) -> OrderFact | None:
        """The order fact, or None when the request is not for a B12 product. `notes`: parts of
        a draft that lenient reading could not read (cds.fhir.lenient)."""
        concepts, medication = medication_of(request, medications)
        dosage = _dosage(request)
        dosage_text = " ".join(_dosage_texts(request))
        product = self._catalog.identify(concepts, " ".join([dosage_text, *_note_texts(request)]))
        if product is None:
            return None
        product = self._catalog.with_medication(product, medication)
        route = self._route(dosage, concepts, product)
        dose = self._doses.read(_dose_quantity(dosage), product)
        schedule = read_schedule(dosage, self._regimen["days_per_month"])
        injectable = product.injectable or dose.kind in ("volume", "container") or injectable_words(dosage_text)
        authored = as_datetime(request.authoredOn)
        dispense = self._dispense(request, product)
        return OrderFact(
            id=request.id or "unidentified",
            ingredient=product.ingredient,
            product=safe_units(next((c.text for c in concepts if c.text), product.name)),
            antidote=self._antidote(product, route, dose),
            cyanokit=product.cyanokit,
            route=route,
            route_text=route.upper() if route in PARENTERAL else ("unknown route" if route == "unknown" else route),
            parenteral=route in PARENTERAL or (route == "unknown" and injectable),
            injectable=injectable,
            dose_kind=dose.kind,
            dose_unit_problem=dose.kind != "none" and dose.mcg is None,
            unreadable=dose.kind == "none",
            unread_text=_unread_text(dose, dosage_text, notes),
            status=request.status or "unknown",
            intent=request.intent or "order",
            has_reason=bool(request.reasonCode or request.reasonReference or request.note),
            reported_by_patient=_reported_by_patient(request),
            bounded=schedule.bounded,
            is_draft=is_draft,
            concentration_mcg_per_ml=product.concentration_mcg_per_ml,
            multi_dose_vial=product.multi_dose_vial,
            dose_value=dose.value,
            dose_unit=dose.unit,
            dose_mcg=dose.mcg,
            dose_if_mcg_meant=dose.mcg / 1000 if dose.mcg is not None else None,
            usual_dose_mcg=self._regimen["usual_dose_mcg"],
            usual_dose_ml=(self._regimen["usual_dose_mcg"] / product.concentration_mcg_per_ml
                           if product.concentration_mcg_per_ml else None),
            dose_arithmetic=dose.arithmetic,
            interval_days=_rounded(schedule.interval_days, 4),
            doses=schedule.doses,
            regimen=self._regimen_of(schedule.interval_days),
            per_day=_rounded(schedule.per_day, 6),
            mcg_per_day=_rounded(_rate(dose, schedule, 1), 3),
            mcg_per_28d=_rounded(_rate(dose, schedule, 28), 3),
            authored_days_ago=round((now - authored).total_seconds() / 86400, 2) if authored else None,
            dispense_mcg=dispense.mcg,
            supply_days=(_rounded(dispense.mcg / dose.mcg * schedule.interval_days, 2)
                         if dispense.mcg and dose.mcg and schedule.interval_days else None),
            dispense_text=dispense.text,
            dose_text=dose.text,
            frequency_text=schedule.text,
        )

    def _antidote(self, product: Product, route: str, dose: Dose) -> bool:
        """CYANOKIT, or hydroxocobalamin above the antidote dose by IV or unknown route (rev 2)."""
        return product.cyanokit or (product.ingredient == "hydroxo" and route in ("iv", "unknown")
                                    and (dose.mcg or 0) > self._regimen["antidote_above_mcg"])

    def _regimen_of(self, interval_days: float | None) -> str | None:
        if interval_days is None:
            return None
        if interval_days <= self._regimen["loading_max_interval_days"]:
            return "loading"
        return "maintenance" if interval_days >= self._regimen["maintenance_min_interval_days"] else "other"

    def _route(self, dosage: Dosage | None, concepts: list[CodeableConcept], product: Product) -> str:
        """The dosage's coded route, else its route or instruction text, else what the product
        itself says ("Oral Tablet", "Nasal Spray", a tablet in the catalogue)."""
        concept = dosage.route if dosage else None
        for coding in codings_of(concept):
            if self._systems.alias(coding.system) == "snomed":
                for route, spec in self._routes.items():
                    if coding.code in spec.get("snomed", []):
                        return route
        texts = texts_of(concept) + ([dosage.text.lower()] if dosage and dosage.text else [])
        texts += [text for c in concepts for text in texts_of(c)]
        for text in texts:
            for route, words in self._route_words.items():
                if any(word.search(text) for word in words):
                    return route
        return "oral" if product.form in ORAL_FORMS else "unknown"

    def _dispense(self, request: MedicationRequest, product: Product) -> Dose:
        dispense = request.dispenseRequest
        return self._doses.read(dispense.quantity if dispense else None, product)


def _dose_quantity(dosage: Dosage | None) -> Quantity | None:
    """The dose of a dosage instruction: doseQuantity, else the top of a doseRange."""
    for dose_and_rate in (dosage.doseAndRate or []) if dosage else []:
        quantity = dose_and_rate.doseQuantity or (dose_and_rate.doseRange.high if dose_and_rate.doseRange else None)
        if quantity is not None:
            return quantity
    return None


def _dosage_texts(request: MedicationRequest) -> list[str]:
    """Free text of every dosage instruction (text and patient instruction), lower-cased."""
    return [text.lower() for dosage in request.dosageInstruction or []
            for text in (dosage.text, dosage.patientInstruction) if text]


def _note_texts(request: MedicationRequest) -> list[str]:
    return [note.text.lower() for note in request.note or [] if note.text]


def _unread_text(dose: Dose, dosage_text: str, notes: list[str] | tuple[str, ...]) -> str | None:
    """What could not be read, for card text: the dose's problem and the parts left out."""
    parts = []
    if dose.kind == "none":
        parts.append(f"no dose quantity (the instructions say only '{dosage_text}')" if dosage_text
                     else "no dose quantity")
    elif dose.problem:
        parts.append(dose.problem)
    parts += [f"could not read {note}" for note in notes]
    return "; ".join(parts) or None


def _rate(dose: Dose, schedule: Schedule, days: float) -> float | None:
    return dose.mcg * schedule.per_day * days if dose.mcg is not None and schedule.per_day else None


def _dosage(request: MedicationRequest) -> Dosage | None:
    """The first dosage instruction that states a dose (a loading-then-maintenance order may begin
    with text only), else the first."""
    dosages = request.dosageInstruction or []
    return next((d for d in dosages if any(r.doseQuantity or r.doseRange for r in d.doseAndRate or [])),
                dosages[0] if dosages else None)


def _rounded(value: float | None, digits: int) -> float | None:
    """Rounded for facts and card text; arithmetic is done on the unrounded values."""
    return round(value, digits) if value is not None else None


_REPORTER = re.compile(r"(?:^|/)(Patient|RelatedPerson)/[^/]+(?:/_history/[^/]+)?$")


def _reported_by_patient(request: MedicationRequest) -> bool:
    """R4: reportedBoolean, or reportedReference to a Patient or RelatedPerson (also versioned or typed);
    R5: informationSource naming one (an order sent in R5 shape)."""
    if request.reportedBoolean:
        return True
    references = [request.reportedReference, *(request.informationSource or [])]
    return any(reference.type in ("Patient", "RelatedPerson") or bool(_REPORTER.search(reference.reference or ""))
               for reference in references if reference is not None)
