"""The orders suggestions carry, written as complete FHIR R4 MedicationRequests (clinical-rules.md §1,
"Suggestions"): dose, route, schedule, duration where the course ends, dispense quantity, and a start
date for what follows a course. Nothing is left for the prescriber to fill in, and a draft that is
changed keeps what the change does not touch."""

from __future__ import annotations

import copy
import math
from datetime import date, timedelta
from typing import Any

from cds.facts.display import format_number
from cds.rulebook.model import Rulebook
from cds.rulebook.regimens import Regimen, SuggestedProduct

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
_ROUTE_DISPLAY = {"im": "Intramuscular route", "sc": "Subcutaneous route", "iv": "Intravenous route",
                  "oral": "Oral route", "nasal": "Nasal route"}
_ROUTE_WORDS = {"im": "IM", "sc": "SC", "iv": "IV", "oral": "oral", "nasal": "nasal"}
_DISPENSE = {"mL": ("mL", "mL"), "tablet": ("tablet", "{tbl}"), "mcg": ("mcg", "ug")}
_DOSE_UNITS = {"mcg": "ug", "mg": "mg"}
_FORM_ROUTE = {"injection": "im", "tablet": "oral", "capsule": "oral", "lozenge": "oral", "spray": "nasal"}


class OrderWriter:
    """Writes the MedicationRequests of one request's suggestions."""

    def __init__(self, rulebook: Rulebook, patient_id: str, today: date):
        self.rulebook = rulebook
        self.patient_id = patient_id
        self.today = today
        self._month = rulebook.facts_config["regimen"]["days_per_month"]
        self._snomed = {route: spec["snomed"][0] for route, spec in rulebook.valuesets["routes"].items()}

    def course(self, regimen: Regimen, base: dict[str, Any] | None, start: date) -> dict[str, Any]:
        """The regimen as one order starting on `start` (each step from the day the one before ends); with
        `base`, the draft it replaces, whose id and request details it keeps."""
        resource = self._skeleton(base)
        _set_product(resource, regimen.product)
        dosages, begins = [], start
        for number, step in enumerate(regimen.steps, 1):
            repeat: dict[str, Any] = {"frequency": step.frequency, "period": step.period, "periodUnit": step.unit,
                                      "boundsPeriod": {"start": begins.isoformat()}}
            doses = step.doses(self._month)
            if doses is not None:
                repeat["count"] = doses
                begins += timedelta(days=math.ceil(doses * step.interval_days(self._month)))
            dosages.append({**({"sequence": number} if len(regimen.steps) > 1 else {}),
                            "text": f"{regimen.dose_text} {_ROUTE_WORDS[regimen.route]} {step.text(self._month)}",
                            "timing": {"repeat": repeat}, "route": self._route(regimen.route),
                            "doseAndRate": [_dose(regimen.dose_value, regimen.dose_unit)]})
        resource["dosageInstruction"] = dosages
        amount = regimen.dispensed(self._month, self.rulebook.open_supply_days)
        resource["dispenseRequest"] = {"quantity": _quantity(amount, regimen.product.dispense)}
        return resource

    def course_end(self, regimen: Regimen, start: date) -> date | None:
        """The day after the regimen's course ends (when what follows it starts); None when open-ended."""
        length = regimen.length_days(self._month)
        return start + timedelta(days=math.ceil(length)) if length is not None else None

    def edited(self, base: dict[str, Any], draft: dict[str, Any], edit: dict[str, Any]) -> dict[str, Any] | None:
        """The draft with the product, dose or route the edit names; its schedule and supply are kept, a
        supply written as a mass follows a new dose, and what the draft lacked is completed: the route
        its product is labelled for, a single dose when it had no schedule, a supply. None when no
        complete order can be made (the draft's own dose cannot be read, and the edit sets none)."""
        resource = copy.deepcopy(base)
        product = self._product(edit.get("product"))
        if product is not None:
            _set_product(resource, product)
        dose_mcg = draft.get("dose_mcg")
        written = _mass(dose_mcg) if dose_mcg else None
        if "dose" in edit:
            written = (edit["dose"]["value"], edit["dose"]["unit"])
            dose_mcg = written[0] * (1000 if written[1] == "mg" else 1)
        if not dose_mcg:
            return None
        route = edit.get("route") or (draft.get("route") if draft.get("route") not in (None, "unknown") else None)
        route = route or _FORM_ROUTE.get(product.form if product else "injection" if draft.get("parenteral") else "")
        dosages = resource.get("dosageInstruction") or [{}]
        for dosage in dosages:
            if written and ("dose" in edit or not dosage.get("doseAndRate")):
                dosage["doseAndRate"] = [_dose(*written)]
            if route:
                dosage["route"] = self._route(route)
            dosage.setdefault("timing", {"repeat": {"count": 1}})
            shown = f"{format_number(written[0])} {written[1]}" if written else None
            dosage["text"] = " ".join(filter(None, (shown, _ROUTE_WORDS.get(route or ""), draft.get("frequency_text"))))
        resource["dosageInstruction"] = dosages
        self._supply(resource, draft, dose_mcg, "dose" in edit)
        return resource

    def _supply(self, resource: dict[str, Any], draft: dict[str, Any], dose_mcg: float | None,
                dose_changed: bool) -> None:
        """Keep the draft's dispense quantity; a mass supply follows a changed dose (the same number of
        doses); with none, dispense the course's doses, or the open-supply days' worth."""
        quantity = (resource.get("dispenseRequest") or {}).get("quantity")
        if not dose_mcg:
            return
        if quantity is not None and not (dose_changed and draft.get("dispense_mcg") and _is_mass(quantity)):
            return
        if quantity is not None and draft.get("dose_mcg"):
            doses = draft["dispense_mcg"] / draft["dose_mcg"]
        else:
            interval = draft.get("interval_days")
            doses = draft.get("doses") or (max(1, math.floor(self.rulebook.open_supply_days / interval))
                                           if interval else 1)
        concentration = draft.get("concentration_mcg_per_ml")
        supply = (_quantity(doses * dose_mcg / concentration, "mL") if concentration
                  else _quantity(doses * dose_mcg, "mcg"))
        resource.setdefault("dispenseRequest", {})["quantity"] = supply

    def _skeleton(self, base: dict[str, Any] | None) -> dict[str, Any]:
        if base is not None:
            kept = {key: copy.deepcopy(value) for key, value in base.items()
                    if key in ("resourceType", "id", "status", "intent", "subject", "encounter", "authoredOn",
                               "requester", "category", "priority")}
            return {"resourceType": "MedicationRequest", **kept}
        return {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
                "subject": {"reference": f"Patient/{self.patient_id}"}}

    def _route(self, route: str) -> dict[str, Any]:
        return {"coding": [{"system": SNOMED, "code": self._snomed[route], "display": _ROUTE_DISPLAY[route]}],
                "text": _ROUTE_WORDS[route]}

    def _product(self, key: str | None) -> SuggestedProduct | None:
        return self.rulebook.products[key] if key else None


def _set_product(resource: dict[str, Any], product: SuggestedProduct) -> None:
    """The product by its RxNorm code and text; the replaced product's reference and contained Medication go."""
    resource.pop("medicationReference", None)
    contained = [r for r in resource.get("contained", []) if r.get("resourceType") != "Medication"]
    if contained:
        resource["contained"] = contained
    else:
        resource.pop("contained", None)
    resource["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": product.rxnorm, "display": product.text}], "text": product.text}


def _dose(value: float, unit: str) -> dict[str, Any]:
    return {"doseQuantity": {"value": value, "unit": unit, "system": UCUM, "code": _DOSE_UNITS[unit]}}


def _mass(mcg: float) -> tuple[float, str]:
    return (mcg / 1000, "mg") if mcg >= 1000 and mcg % 1000 == 0 else (mcg, "mcg")


def _quantity(amount: float, unit: str) -> dict[str, Any]:
    shown, code = _DISPENSE[unit]
    value = round(float(amount), 3)
    return {"value": int(value) if value.is_integer() else value, "unit": shown, "system": UCUM, "code": code}


def _is_mass(quantity: dict[str, Any]) -> bool:
    return str(quantity.get("code") or quantity.get("unit") or "").lower() in ("ug", "mcg", "mg", "g")
