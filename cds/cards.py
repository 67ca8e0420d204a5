"""Findings + the rules' card templates → CDS Hooks cards (one per rule and order, ordered)."""

from __future__ import annotations

import copy
import string
import uuid
from typing import Any

from cds.engine import Finding
from cds.facts.display import format_number
from cds.rulebook.model import INDICATOR_RANK, SUMMARY_LIMIT, Rule, Rulebook

TOPIC_SYSTEM = "urn:cobalt-cds:rule"
_NAMESPACE = uuid.UUID("5f0c1a52-8d0e-4c61-9a57-b12c0ba17000")
_ROUTE_DISPLAY = {"im": "Intramuscular route", "sc": "Subcutaneous route", "iv": "Intravenous route",
                  "oral": "Oral route", "nasal": "Nasal route"}
_DOSE_UNITS = {"mcg": ("ug", "mcg"), "mg": ("mg", "mg")}


class _FactFormatter(string.Formatter):
    """`{alias.field}` → the matched fact's value, `unknown` when the fact does not know it."""

    def __init__(self, facts: dict[str, dict[str, Any]], parameters: dict[str, float], unknown: str = "unknown"):
        self.facts = facts
        self.parameters = parameters
        self.unknown = unknown

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if field_name.startswith("$"):  # a pack parameter, so text follows a tuned threshold
            return self.parameters.get(field_name[1:]), field_name
        alias, _, name = field_name.partition(".")
        return self.facts.get(alias, {}).get(name), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return self.unknown
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float) and not format_spec:
            return format_number(value)
        return super().format_field(value, format_spec)


class CardBuilder:
    """Turns one request's findings into cards, using the rulebook's templates and catalogs."""

    def __init__(self, rulebook: Rulebook, service_id: str, hook_instance: str, patient_id: str,
                 drafts: dict[str, dict[str, Any]]):
        self.rulebook = rulebook
        self.service_id = service_id
        self.hook_instance = hook_instance
        self.patient_id = patient_id
        self.drafts = drafts
        self.routes = rulebook.valuesets["routes"]

    def build(self, findings: list[Finding]) -> list[dict[str, Any]]:
        strongest: dict[tuple[str, str], Finding] = {}
        for finding in findings:
            key = (finding.rule_id, _order_key(finding))
            held = strongest.get(key)
            if held is None or INDICATOR_RANK[finding.indicator] < INDICATOR_RANK[held.indicator]:
                strongest[key] = finding
        cards = [(self.rulebook.rule(rule_id), finding, order) for (rule_id, order), finding in strongest.items()]
        cards.sort(key=lambda item: (INDICATOR_RANK[item[1].indicator], -item[0].priority, item[0].id, item[2]))
        critical = {order for _, finding, order in cards if finding.indicator == "critical"}
        return [self.card(rule, finding, order, competing=finding.indicator != "critical" and order in critical)
                for rule, finding, order in cards]

    def card_uuid(self, rule_id: str, order: str) -> str:
        """Stable per hookInstance + rule + order: a repeated call gives the same uuid. The service is
        part of it too: an EHR calls several services with one hookInstance, and feedback to each
        must find its own card."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.service_id}|{self.hook_instance}|{rule_id}|{order}"))

    def card(self, rule: Rule, finding: Finding, order: str, competing: bool = False) -> dict[str, Any]:
        """The card of one finding. `competing`: the same draft has a critical card, so this card
        offers no change to that draft (rev 2 "Cards that compete"); new orders stay."""
        formatter = _FactFormatter(finding.facts, self.rulebook.packs[rule.pack].parameters)
        card_id = self.card_uuid(rule.id, order)
        template = rule.card
        summary = formatter.format(template["summary"]).strip()
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1].rstrip() + "…"
        card: dict[str, Any] = {
            "uuid": card_id,
            "summary": summary,
            "indicator": finding.indicator,
            "detail": formatter.format(template["detail"]).strip(),
            "source": {
                "label": self.rulebook.card_source_label,
                "topic": {"system": TOPIC_SYSTEM, "code": rule.id, "display": rule.title},
            },
            "extension": {"cobalt-cds": {"pack": rule.pack, "packVersion": rule.pack_version,
                                         "rulesDigest": self.rulebook.digest}},
        }
        suggestions = [s for index, raw in enumerate(template.get("suggestions", []))
                       if not (competing and "replace_draft" in raw) and _applies(raw, finding)
                       and (s := self.suggestion(raw, formatter, finding, rule.id, f"{card_id}|{index}"))]
        if suggestions:
            card["suggestions"] = suggestions
            additions = all(action["type"] == "create" for s in suggestions for action in s["actions"])
            card["selectionBehavior"] = "any" if additions else "at-most-one"
        if finding.indicator in ("warning", "critical"):
            reasons = self.rulebook.override_reasons
            card["overrideReasons"] = [{"system": reasons["system"], "code": key, "display": reasons["codes"][key]}
                                       for key in template.get("override_reasons", [])]
        if rule.references:
            card["links"] = [{"label": ref["label"], "url": ref["url"], "type": "absolute"}
                             for ref in rule.references]
        return card

    def suggestion(self, raw: dict[str, Any], formatter: _FactFormatter, finding: Finding, rule_id: str,
                   seed: str) -> dict[str, Any] | None:
        label = formatter.format(raw["label"])
        if "replace_draft" in raw:
            draft_id = next((f.get("id") for f in finding.facts.values() if f.get("type") == "draft_order"), None)
            draft = self.drafts.get(draft_id)
            if draft is None:
                return None
            resource = self.medication_request(raw["replace_draft"], formatter, base=draft)
            action_type = "update"
        elif "add_medication" in raw:
            resource, action_type = self.medication_request(raw["add_medication"], formatter), "create"
        else:
            resource, action_type = self.lab_order(raw["order_lab"]), "create"
        # Accepting a suggestion documents why the order was made (has_reason for later checks).
        resource["reasonCode"] = [{"text": f"Suggested by Cobalt CDS rule {rule_id}"}]
        action = {"type": action_type, "description": label, "resource": resource}
        return {"label": label, "uuid": str(uuid.uuid5(_NAMESPACE, seed)), "actions": [action]}

    def medication_request(self, template: dict[str, Any], formatter: _FactFormatter,
                           base: dict[str, Any] | None = None) -> dict[str, Any]:
        """A draft MedicationRequest; when replacing, the draft's id and unchanged parts are kept."""
        resource = copy.deepcopy(base) if base else {
            "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{self.patient_id}"}}
        if "text" in template:
            concept: dict[str, Any] = {"text": template["text"]}
            if "rxnorm" in template:
                concept["coding"] = [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                      "code": template["rxnorm"], "display": template["text"]}]
            _drop_product(resource)
            resource["medicationCodeableConcept"] = concept
        dosage = copy.deepcopy((resource.get("dosageInstruction") or [{}])[0])
        if "timing" in template:
            timing = template["timing"]
            repeat = {"frequency": timing["frequency"], "period": timing["period"],
                      "periodUnit": timing["period_unit"]}
            if "count" in timing:
                repeat["count"] = timing["count"]
            dosage["timing"] = {"repeat": repeat}
        if "route" in template:
            route = template["route"]
            dosage["route"] = {"coding": [{"system": "http://snomed.info/sct",
                                           "code": self.routes[route]["snomed"][0],
                                           "display": _ROUTE_DISPLAY[route]}]}
        if "instructions" in template:  # order text leaves out what is unknown rather than say so
            text = _FactFormatter(formatter.facts, formatter.parameters, unknown="").format(template["instructions"])
            dosage["text"] = " ".join(text.split())
        if "dose" in template:
            code, shown = _DOSE_UNITS[template["dose"]["unit"]]
            dosage["doseAndRate"] = [{"doseQuantity": {"value": template["dose"]["value"], "unit": shown,
                                                       "system": "http://unitsofmeasure.org", "code": code}}]
        resource["dosageInstruction"] = [dosage]
        return resource

    def lab_order(self, lab: dict[str, str]) -> dict[str, Any]:
        return {
            "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
            "code": {"coding": [{"system": "http://loinc.org", "code": lab["loinc"], "display": lab["display"]}],
                     "text": lab["display"]},
            "subject": {"reference": f"Patient/{self.patient_id}"},
        }


def _drop_product(resource: dict[str, Any]) -> None:
    """Remove what belongs to the replaced product: its reference, contained Medication and supply."""
    resource.pop("medicationReference", None)
    resource.pop("dispenseRequest", None)
    contained = [r for r in resource.get("contained", []) if r.get("resourceType") != "Medication"]
    if contained:
        resource["contained"] = contained
    else:
        resource.pop("contained", None)


def _applies(suggestion: dict[str, Any], finding: Finding) -> bool:
    """Whether the matched facts have the values the suggestion's `if` asks for."""
    for name, value in suggestion.get("if", {}).items():
        alias, _, field = name.partition(".")
        if finding.facts.get(alias, {}).get(field) != value:
            return False
    return True


def _order_key(finding: Finding) -> str:
    """One card per (rule, order): the draft, else the order, else the lab result, else the patient."""
    for alias_type in ("draft_order", "order", "lab_unit_problem"):
        for fact in finding.facts.values():
            if fact.get("type") == alias_type:
                return f"{alias_type}:{fact.get('id')}"
    return "patient"
