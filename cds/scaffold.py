"""A request fixture from a short description (`cds fixtures new`), for examples where reading FHIR is what is
under test: a patient, B12 drafts, lab results and findings, written as FHIR R4 with the rule files' own codes
(products and their RxNorm codes from regimens.yaml, routes from valuesets.yaml, LOINC codes and units from
facts.yaml, a value set's first code). Drafts are written by the code that writes suggested orders."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cds.cards.orders import OrderWriter
from cds.fixtures import HEADER
from cds.rulebook.checks import closest
from cds.rulebook.model import Rulebook
from cds.rulebook.regimens import Regimen, RegimenStep

_DRAFT = re.compile(r"(?P<product>\w+)\s+(?P<dose>\d+(?:\.\d+)?)\s*(?P<unit>mcg|mg)\s+(?P<route>im|sc|iv|oral|nasal)"
                    r"(?:\s+every\s+(?P<period>\d+(?:\.\d+)?\s*)?(?P<every>d|days?|wk|weeks?|mo|months?))?"
                    r"(?:\s+x\s*(?P<count>\d+))?", re.IGNORECASE)
_LAB = re.compile(r"(?P<kind>\w+)=(?P<value>\d+(?:\.\d+)?)(?:@(?P<days>\d+)d)?")
_PATIENT = re.compile(r"(?:(?P<sex>female|male)\s*)?(?:(?P<age>\d+)\s*(?:y|years?)?)?", re.IGNORECASE)
_PERIODS = {"d": "d", "day": "d", "days": "d", "wk": "wk", "week": "wk", "weeks": "wk", "mo": "mo", "month": "mo",
            "months": "mo"}
_DRAFT_HOOKS = {"order-select": "draftOrders", "order-sign": "draftOrders", "medication-prescribe": "medications"}
DRAFT_FORMAT = "PRODUCT DOSE mcg|mg ROUTE [every [N] d|wk|mo] [xCOUNT], e.g. 'cyanocobalamin_injection 1 mg im " \
               "every 1 mo'"


class ScaffoldError(ValueError):
    """A part of the description that cannot be written as FHIR, said in words."""


def new_request(rulebook: Rulebook, name: str, patient: str, drafts: list[str], labs: list[str], findings: list[str],
                hook: str = "order-sign", today: date | None = None) -> dict[str, Any]:
    """The request fixture `name` (its ids derive from it), recorded `today`."""
    today = today or datetime.now(UTC).date()
    if drafts and hook not in _DRAFT_HOOKS:
        raise ScaffoldError(f"a {hook} request carries no draft orders: use --hook order-sign")
    patient_id = f"pat-{name}"
    writer = OrderWriter(rulebook, patient_id, today)
    orders = [_draft(rulebook, writer, text, f"draft-{name}-{number}", today)
              for number, text in enumerate(drafts, 1)]
    records = [_finding(rulebook, finding, patient_id, number) for number, finding in enumerate(findings, 1)]
    request: dict[str, Any] = {
        HEADER: {"recordedAt": today.isoformat(), "description": f"Written by cds fixtures new: {patient}; "
                 + "; ".join([*drafts, *labs, *findings])},
        "hook": hook, "hookInstance": f"fixture-{name}",
        "context": {"userId": "Practitioner/prac-1", "patientId": patient_id},
        "prefetch": {
            "patient": _patient(patient, patient_id, today),
            "observations": _bundle([_lab(rulebook, lab, patient_id, number, today)
                                     for number, lab in enumerate(labs, 1)]),
            "medications": _bundle([]), "procedures": _bundle([]),
            "conditions": _bundle([r for r in records if r["resourceType"] == "Condition"]),
            "allergies": _bundle([r for r in records if r["resourceType"] == "AllergyIntolerance"]),
        },
    }
    if orders:
        request["context"][_DRAFT_HOOKS[hook]] = {"resourceType": "Bundle", "type": "collection",
                                                  "entry": [{"resource": order} for order in orders]}
    if hook == "order-select":
        request["context"]["selections"] = [f"MedicationRequest/{order['id']}" for order in orders]
    return request


def _draft(rulebook: Rulebook, writer: OrderWriter, text: str, order_id: str, today: date) -> dict[str, Any]:
    match = _DRAFT.fullmatch(text.strip())
    if match is None:
        raise ScaffoldError(f"cannot read the draft '{text}': write {DRAFT_FORMAT}")
    product = rulebook.products.get(match["product"])
    if product is None:
        raise ScaffoldError(f"no product '{match['product']}' in regimens.yaml ("
                            f"{closest(match['product'], set(rulebook.products)) or ', '.join(rulebook.products)})")
    count = int(match["count"]) if match["count"] else None
    every = _PERIODS[match["every"].lower()] if match["every"] else None
    step = RegimenStep(1, float(match["period"] or 1), every, count) if every else RegimenStep(1, 1, "d", 1)
    regimen = Regimen("fixture", "cds fixtures new", product, float(match["dose"]), match["unit"].lower(),
                      match["route"].lower(), (step,))
    order = writer.course(regimen, None, today)
    return {**order, "id": order_id, "authoredOn": datetime.combine(today, time(9, 30), UTC).isoformat()}


def _patient(description: str, patient_id: str, today: date) -> dict[str, Any]:
    match = _PATIENT.fullmatch(description.strip())
    if match is None:
        raise ScaffoldError(f"cannot read the patient '{description}': write e.g. 'female 67'")
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id, "active": True}
    if match["sex"]:
        resource["gender"] = match["sex"].lower()
    if match["age"]:   # born on this day of the year (28 February for 29 February)
        resource["birthDate"] = today.replace(year=today.year - int(match["age"]),
                                              day=min(today.day, 28 if today.month == 2 else 31)).isoformat()
    return resource


def _lab(rulebook: Rulebook, text: str, patient_id: str, number: int, today: date) -> dict[str, Any]:
    match = _LAB.fullmatch(text.strip())
    labs = rulebook.facts_config["labs"]
    if match is None or match["kind"] not in labs:
        kind = match["kind"] if match else text
        raise ScaffoldError(f"cannot read the lab '{text}': write KIND=VALUE[@DAYSd] in the kind's canonical unit, "
                            f"KIND one of facts.yaml labs ({closest(kind, set(labs)) or ', '.join(labs)})")
    spec = labs[match["kind"]]
    taken = datetime.combine(today - timedelta(days=int(match["days"] or 7)), time(9, 30), UTC)
    return {"resourceType": "Observation", "id": f"obs-{number}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": spec["loinc"][0]}], "text": match["kind"]},
            "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": taken.isoformat(),
            "valueQuantity": {"value": float(match["value"]), "unit": spec["canonical"],
                              "system": "http://unitsofmeasure.org", "code": spec["canonical"]}}


def _finding(rulebook: Rulebook, name: str, patient_id: str, number: int) -> dict[str, Any]:
    """A Condition (an AllergyIntolerance for an allergy value set) coded with the value set's first code."""
    valuesets = rulebook.valuesets["valuesets"]
    if name not in valuesets:
        raise ScaffoldError(f"no value set '{name}' in valuesets.yaml "
                            f"({closest(name, set(valuesets)) or ', '.join(valuesets)})")
    spec = valuesets[name]
    codings = [{"system": rulebook.valuesets["systems"][system][0], "code": code}
               for system, codes in spec.get("codes", {}).items() for code in codes if "*" not in code][:1]
    code = {**({"coding": codings} if codings else {}), "text": (spec.get("text") or [name.replace("_", " ")])[0]}
    subject = {"reference": f"Patient/{patient_id}"}
    if "AllergyIntolerance" in spec.get("sources", []):
        return {"resourceType": "AllergyIntolerance", "id": f"allergy-{number}", "code": code, "patient": subject,
                "clinicalStatus": _status("allergyintolerance-clinical", "active")}
    return {"resourceType": "Condition", "id": f"cond-{number}", "code": code, "subject": subject,
            "clinicalStatus": _status("condition-clinical", "active")}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": resource} for resource in resources]}
