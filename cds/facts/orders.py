"""MedicationRequests → B12 order facts, one per dosage step, composed of small units: what the request
says of itself, the product, and per step the route, the dose (structured or read from text), the
schedule, and the supply."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.facts.codes import CodeSystems
from cds.facts.display import safe_units
from cds.facts.dose import Dose, DoseReader
from cds.facts.medication import medication_of
from cds.facts.model import OrderFact
from cds.facts.products import Product, ProductCatalog, injectable_words
from cds.facts.routes import PARENTERAL, UNKNOWN, Route, RouteReader, route_class
from cds.facts.schedule import Schedule, ScheduleReader
from cds.facts.textdose import TextDoseGrammar
from cds.facts.units import Units
from cds.fhir.models import CodeableConcept, Dosage, Medication, MedicationRequest, Quantity
from cds.fhir.record import as_datetime


@dataclass(frozen=True)
class Step:
    """One dosage step as read: its route, dose (and the text it came from) and schedule."""

    dosage: Dosage | None
    route: Route
    dose: Dose
    schedule: Schedule
    quote: str | None = None             # the order text a dose was read from


class OrderReader:
    """Reads B12 orders using the rulebook's product, unit, route, schedule and regimen data."""

    def __init__(self, valuesets: dict[str, Any], facts_config: dict[str, Any], units: Units):
        self._catalog = ProductCatalog(valuesets, units)
        self._doses = DoseReader(units, facts_config["dose_units"])
        self._routes = RouteReader(CodeSystems(valuesets["systems"]), valuesets["routes"])
        self._schedules = ScheduleReader(facts_config["regimen"]["days_per_month"], facts_config["timing_codes"])
        self._grammar = TextDoseGrammar(facts_config, units)
        self._regimen = facts_config["regimen"]

    def read(self, request: MedicationRequest, medications: dict[str, Medication], now: datetime, is_draft: bool,
             notes: list[str] | tuple[str, ...] = ()) -> OrderFact | None:
        """The order's first step (the regimen it starts with), or None when it is not for a B12 product."""
        steps = self.read_steps(request, medications, now, is_draft, notes)
        return steps[0] if steps else None

    def read_steps(self, request: MedicationRequest, medications: dict[str, Medication], now: datetime,
                   is_draft: bool, notes: list[str] | tuple[str, ...] = ()) -> list[OrderFact]:
        """A fact per dosage step, in sequence order; none when the request is not for a B12 product.
        `notes`: parts of a draft that lenient reading could not read (cds.fhir.lenient)."""
        concepts, medication = medication_of(request, medications)
        texts = _dosage_texts(request)
        product = self._catalog.identify(concepts, " ".join([*texts, *_note_texts(request)]))
        if product is None:
            return []
        product = self._catalog.with_medication(product, medication)
        steps = self._steps(request, concepts, product)
        maintenance_later = any(self._parenteral(s, product, texts) and self._regimen_of(s) == "maintenance"
                                for s in steps[1:])
        shared = {**self._request_fields(request, now, is_draft), **self._product_fields(product, concepts),
                  "steps": len(steps), "has_maintenance_step": maintenance_later}
        order_id = request.id or "unidentified"
        return [OrderFact(id=order_id if index == 1 else f"{order_id}#{index}", step=index,
                          **shared, **self._step_fields(step, product, texts, notes), **_period_fields(step, now),
                          **(self._supply_fields(request, product, step) if index == 1 else {}))
                for index, step in enumerate(steps, 1)]

    def _steps(self, request: MedicationRequest, concepts: list[CodeableConcept], product: Product) -> list[Step]:
        """The dosage instructions that state a dose, in `sequence` order (a step without a route takes
        the first step's); the first instruction alone when none does."""
        dosages = sorted(request.dosageInstruction or [], key=lambda d: math.inf if d.sequence is None else d.sequence)
        read = [self._step(dosage, concepts, product) for dosage in dosages] or [self._step(None, concepts, product)]
        dosed = [step for step in read if step.dose.kind != "none"] or read[:1]
        first = dosed[0].route
        return [step if step.route.known else Step(step.dosage, first, step.dose, step.schedule, step.quote)
                for step in dosed]

    def _step(self, dosage: Dosage | None, concepts: list[CodeableConcept], product: Product) -> Step:
        route = self._routes.read(dosage, concepts, product)
        schedule = self._schedules.read(dosage)
        dose = self._doses.read(_dose_quantity(dosage), product)
        if dose.kind != "none":
            return Step(dosage, route, dose, schedule)
        text = " ".join(_texts_of(dosage))
        reading = self._grammar.read(text) if text else None
        if reading is None or not reading.doses:
            said = f"; the instructions ('{text}') name no dose" if text else ""
            return Step(dosage, route, Dose("none", problem=f"{dose.problem}{said}"), schedule)
        found = {_same_dose_key(read): read for read in
                 (self._doses.read_written(written.value, written.unit, product) for written in reading.doses)}
        if len(found) > 1:
            named = ", ".join(dict.fromkeys(written.text for written in reading.doses))
            return Step(dosage, route, Dose("none", problem=f"the instructions ('{text}') name {len(found)} "
                                                            f"different doses ({named})"), schedule)
        if schedule.interval_days is None and reading.schedule is not None:
            schedule = self._schedules.of(reading.schedule, **_bounds_of(schedule))
        return Step(dosage, route, next(iter(found.values())), schedule, quote=text)

    def _request_fields(self, request: MedicationRequest, now: datetime, is_draft: bool) -> dict[str, Any]:
        authored = as_datetime(request.authoredOn)
        return {"order_id": request.id or "unidentified", "status": request.status or "unknown",
                "intent": request.intent or "order", "is_draft": is_draft,
                "has_reason": bool(request.reasonCode or request.reasonReference or request.note),
                "reported_by_patient": _reported_by_patient(request),
                "authored_days_ago": round((now - authored).total_seconds() / 86400, 2) if authored else None}

    def _product_fields(self, product: Product, concepts: list[CodeableConcept]) -> dict[str, Any]:
        usual = self._regimen["usual_dose_mcg"]
        return {"ingredient": product.ingredient, "cyanokit": product.cyanokit,
                "product": safe_units(next((c.text for c in concepts if c.text), product.name)),
                "concentration_mcg_per_ml": product.concentration_mcg_per_ml,
                "multi_dose_vial": product.multi_dose_vial, "usual_dose_mcg": usual,
                "usual_dose_ml": usual / product.concentration_mcg_per_ml if product.concentration_mcg_per_ml else None}

    def _step_fields(self, step: Step, product: Product, texts: list[str],
                     notes: list[str] | tuple[str, ...]) -> dict[str, Any]:
        dose, schedule, route = step.dose, step.schedule, step.route
        parenteral = self._parenteral(step, product, texts)
        frequency = schedule.text
        return {
            "route": route.route, "route_text": route.shown, "route_class": route_class(route.route, parenteral),
            "parenteral": parenteral, "injectable": self._injectable(step, product, texts),
            "antidote": self._antidote(product, route, dose),
            "dose_kind": dose.kind, "dose_unit_problem": dose.kind != "none" and dose.mcg is None,
            "unreadable": dose.kind == "none", "unread_text": _unread_text(dose, notes),
            "dose_source": None if dose.kind == "none" else "text" if step.quote else "structured",
            "dose_quote": step.quote, "dose_value": dose.value, "dose_unit": dose.unit, "dose_mcg": dose.mcg,
            "dose_if_mcg_meant": dose.mcg / 1000 if dose.mcg is not None else None,
            "dose_arithmetic": dose.arithmetic, "dose_text": dose.text, "frequency_text": frequency,
            "regimen_text": " ".join(filter(None, (dose.text, route.shown if route.known else None, frequency)))
            or None,
            "interval_days": _rounded(schedule.interval_days, 4), "doses": schedule.doses,
            "bounded": schedule.bounded, "regimen": self._regimen_of(step) if parenteral else None,
            "per_day": _rounded(schedule.per_day, 6), "mcg_per_day": _rounded(_rate(dose, schedule, 1), 3),
            "mcg_per_28d": _rounded(_rate(dose, schedule, 28), 3),
        }

    def _supply_fields(self, request: MedicationRequest, product: Product, step: Step) -> dict[str, Any]:
        """What the order dispenses and how many days that lasts at its dose and interval; a multi-dose
        vial lasts at most its in-use days (or one interval) a vial once opened."""
        dispense = request.dispenseRequest
        supply = self._doses.read(dispense.quantity if dispense else None, product)
        dose, interval = step.dose.mcg, step.schedule.interval_days
        days = supply.mcg / dose * interval if supply.mcg and dose and interval else None
        if days is not None and product.multi_dose_vial and product.container_mcg:
            vials = math.ceil(supply.mcg / product.container_mcg - 1e-9)
            days = min(days, vials * max(self._regimen["mdv_in_use_days"], interval))
        return {"dispense_mcg": supply.mcg, "dispense_text": supply.text, "supply_days": _rounded(days, 2)}

    def _parenteral(self, step: Step, product: Product, texts: list[str]) -> bool:
        """Route IM/SC/IV, or an unknown route on an injectable product."""
        return step.route.route in PARENTERAL or (step.route == UNKNOWN and self._injectable(step, product, texts))

    @staticmethod
    def _injectable(step: Step, product: Product, texts: list[str]) -> bool:
        return product.injectable or step.dose.kind in ("volume", "container") or injectable_words(" ".join(texts))

    def _antidote(self, product: Product, route: Route, dose: Dose) -> bool:
        """CYANOKIT, or hydroxocobalamin above the antidote dose by IV or unknown route."""
        return product.cyanokit or (product.ingredient == "hydroxo" and route.route in ("iv", "unknown")
                                    and (dose.mcg or 0) > self._regimen["antidote_above_mcg"])

    def _regimen_of(self, step: Step) -> str | None:
        """loading (dosed at least weekly), maintenance (at most every 4 weeks) or other."""
        interval = step.schedule.interval_days
        if interval is None:
            return None
        if interval <= self._regimen["loading_max_interval_days"]:
            return "loading"
        return "maintenance" if interval >= self._regimen["maintenance_min_interval_days"] else "other"


def _period_fields(step: Step, now: datetime) -> dict[str, Any]:
    """When the step runs, in days from now: from boundsPeriod.start (else now) to its end from bounds or
    count (else open)."""
    schedule = step.schedule
    start = (schedule.start - now).total_seconds() / 86400 if schedule.start else 0.0
    end = None
    if schedule.end is not None:
        end = (schedule.end - now).total_seconds() / 86400
    elif schedule.duration_days is not None:
        end = start + schedule.duration_days
    elif schedule.doses and schedule.interval_days:
        end = start + schedule.doses * schedule.interval_days
    return {"starts_in_days": _rounded(start, 2), "ends_in_days": _rounded(end, 2)}


def _dose_quantity(dosage: Dosage | None) -> Quantity | None:
    """The dose of a dosage instruction: doseQuantity, else the top of a doseRange (its low when it has
    no top)."""
    for dose_and_rate in (dosage.doseAndRate or []) if dosage else []:
        dose_range = dose_and_rate.doseRange
        quantity = dose_and_rate.doseQuantity or (dose_range.high or dose_range.low if dose_range else None)
        if quantity is not None:
            return quantity
    return None


def _same_dose_key(dose: Dose) -> tuple[Any, ...]:
    """Doses equal after conversion are one dose ("1 mL (1000 mcg)"); others compare as written."""
    return ("mcg", round(dose.mcg, 6)) if dose.mcg is not None else ("written", dose.value, (dose.unit or "").lower())


def _bounds_of(schedule: Schedule) -> dict[str, Any]:
    return {"bounded": schedule.bounded, "doses": schedule.doses, "start": schedule.start, "end": schedule.end,
            "duration_days": schedule.duration_days}


def _texts_of(dosage: Dosage | None) -> list[str]:
    return [text for text in (dosage.text, dosage.patientInstruction) if text] if dosage else []


def _dosage_texts(request: MedicationRequest) -> list[str]:
    """Free text of every dosage instruction (text and patient instruction), lower-cased."""
    return [text.lower() for dosage in request.dosageInstruction or [] for text in _texts_of(dosage)]


def _note_texts(request: MedicationRequest) -> list[str]:
    return [note.text.lower() for note in request.note or [] if note.text]


def _unread_text(dose: Dose, notes: list[str] | tuple[str, ...]) -> str | None:
    """What could not be read, for card text: the dose's problem and the parts left out."""
    parts = [dose.problem] if dose.problem else []
    parts += [f"could not read {note}" for note in notes]
    return "; ".join(parts) or None


def _rate(dose: Dose, schedule: Schedule, days: float) -> float | None:
    return dose.mcg * schedule.per_day * days if dose.mcg is not None and schedule.per_day else None


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
