"""Findings + the rules' card templates → CDS Hooks cards (one per rule and order, ordered)."""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds.cards.orders import OrderWriter
from cds.engine import Finding
from cds.facts.display import format_number
from cds.rulebook.model import INDICATOR_RANK, SUMMARY_LIMIT, Rule, Rulebook

TOPIC_SYSTEM = "urn:cobalt-cds:rule"
_NAMESPACE = uuid.UUID("5f0c1a52-8d0e-4c61-9a57-b12c0ba17000")
_DRAFT_CHANGES = frozenset({"update", "delete"})


class _FactFormatter(string.Formatter):
    """`{alias.field}` → the matched fact's value, `unknown` when the fact does not know it. (Values the
    rulebook sets, `{$...}`, were filled in when the rules were loaded.)"""

    def __init__(self, facts: dict[str, dict[str, Any]]):
        self.facts = facts

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        alias, _, name = field_name.partition(".")
        return self.facts.get(alias, {}).get(name), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "unknown"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float) and not format_spec:
            return format_number(value)
        return super().format_field(value, format_spec)


@dataclass(frozen=True)
class Answer:
    """A call's cards: `shown` are the response's, `silent` those of silent rules (the card log's only);
    `about` names each card's order ('draft_order:<id>', …, or 'patient') by its uuid."""

    shown: list[dict[str, Any]]
    silent: list[dict[str, Any]]
    about: dict[str, str]


@dataclass(frozen=True)
class _Match:
    """The finding a card is made of, with the order it is about ('draft_order:<id>', or 'patient')."""

    rule: Rule
    finding: Finding
    order: str

    @property
    def draft(self) -> dict[str, Any] | None:
        return self.finding.fact("draft_order")


class CardBuilder:
    """Turns one request's findings into cards, using the rulebook's templates and catalogs."""

    def __init__(self, rulebook: Rulebook, service_id: str, hook_instance: str, patient_id: str,
                 drafts: dict[str, dict[str, Any]], today: date):
        self.rulebook = rulebook
        self.service_id = service_id
        self.hook_instance = hook_instance
        self.drafts = drafts
        self.today = today
        self.orders = OrderWriter(rulebook, patient_id, today)

    def answer(self, findings: list[Finding]) -> Answer:
        """The response's cards, built from the live rules' findings alone, so a silent rule can drop,
        yield to or compete with none of them; and the cards the silent rules would have added, each as
        it would be if its rule were live (built among every finding, then kept only if silent)."""
        live = [f for f in findings if not self._rule(f).silent]
        shown = self._cards(live)
        silent = [] if len(live) == len(findings) else [
            (card, about) for card, about in self._cards(findings)
            if self._rule_of(card).silent]
        return Answer([card for card, _ in shown], [card for card, _ in silent],
                      {card["uuid"]: about for card, about in (*shown, *silent)})

    def _cards(self, findings: list[Finding]) -> list[tuple[dict[str, Any], str]]:
        """One card per (rule, order), each with the order it is about: the finding of the first case that
        held, else of the rule's own conditions (a case of indicator `none` gives no card); cards that yield
        to another on the same order left out; critical first."""
        chosen: dict[tuple[str, str], _Match] = {}
        for finding in findings:
            match = _Match(self._rule(finding), finding, finding.subject)
            held = chosen.get((finding.rule_id, match.order))
            if held is None or finding.rank < held.finding.rank:
                chosen[(finding.rule_id, match.order)] = match
        shown = [m for m in chosen.values() if m.finding.indicator != "none"]   # a case may say: no card
        matches = [m for m in shown if not _yields(m, shown)]
        matches.sort(key=lambda m: (INDICATOR_RANK[m.finding.indicator], -m.rule.priority, m.rule.id, m.order))
        critical = {m.order for m in matches if m.finding.indicator == "critical"}
        return [(self.card(m, competing=m.finding.indicator != "critical" and m.order in critical), m.order)
                for m in matches]

    def _rule(self, finding: Finding) -> Rule:
        return self.rulebook.rule(finding.rule_id)  # type: ignore[return-value]

    def _rule_of(self, card: dict[str, Any]) -> Rule:
        return self.rulebook.rule(card["source"]["topic"]["code"])  # type: ignore[return-value]

    def card_uuid(self, rule_id: str, order: str) -> str:
        """Stable per hookInstance + rule + order: a repeated call gives the same uuid. The service is
        part of it too: an EHR calls several services with one hookInstance, and feedback to each
        must find its own card."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.service_id}|{self.hook_instance}|{rule_id}|{order}"))

    def card(self, match: _Match, competing: bool = False) -> dict[str, Any]:
        """The card of one finding. `competing`: the same draft has a critical card, so this card offers
        no change to that draft ("Cards that compete"); suggestions that order something new stay."""
        rule, finding = match.rule, match.finding
        formatter = _FactFormatter(finding.facts)
        card_id = self.card_uuid(rule.id, match.order)
        template = rule.card
        summary = formatter.format(template["summary"]).strip()
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1].rstrip() + "…"
        card: dict[str, Any] = {
            "uuid": card_id,
            "summary": summary,
            "indicator": finding.indicator,
            "detail": self._detail(match, formatter),
            "source": {
                "label": self.rulebook.card_source_label,
                "topic": {"system": TOPIC_SYSTEM, "code": rule.id, "display": rule.title},
            },
            "extension": {"cobalt-cds": {"pack": rule.pack, "packVersion": rule.pack_version,
                                         "rulesDigest": self.rulebook.digest, "profile": self.rulebook.profile}},
        }
        suggestions = [s for index, raw in enumerate(template.get("suggestions", []))
                       if holds(raw.get("if", {}), finding.facts)
                       and (s := self.suggestion(raw, formatter, match, f"{card_id}|{index}"))
                       and not (competing and any(a["type"] in _DRAFT_CHANGES for a in s["actions"]))]
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

    def _detail(self, match: _Match, formatter: _FactFormatter) -> str:
        """The detail, with the notes whose `if` holds, and the words of a dose read from text quoted."""
        parts = [formatter.format(match.rule.card["detail"]).strip()]
        parts += [formatter.format(note["text"]).strip() for note in match.rule.card.get("notes", [])
                  if holds(note["if"], match.finding.facts)]
        draft = match.draft
        quote = draft.get("dose_quote") if draft else None
        if quote and quote not in parts[0]:
            parts.append(f"*The dose was read from the order text ('{quote}') as {draft.get('regimen_text')}; "
                         "enter it as a structured dose.*")
        return "\n\n".join(parts)

    def suggestion(self, raw: dict[str, Any], formatter: _FactFormatter, match: _Match,
                   seed: str) -> dict[str, Any] | None:
        label = formatter.format(raw["label"])
        actions = self._actions(raw, match, label)
        if not actions:
            return None
        actions += [{"type": "create", "description": label, "resource": self._lab_order(test)}
                    for test in raw.get("with_labs", []) if holds(test.get("if", {}), match.finding.facts)]
        for action in actions:   # accepting a suggestion documents why the order was made
            if "resource" in action:
                action["resource"]["reasonCode"] = [{"text": f"Suggested by Cobalt CDS rule {match.rule.id}"}]
        return {"label": label, "uuid": str(uuid.uuid5(_NAMESPACE, seed)), "actions": actions}

    def _actions(self, raw: dict[str, Any], match: _Match, label: str) -> list[dict[str, Any]]:
        draft = match.draft
        base = self.drafts.get(draft.get("order_id")) if draft else None
        if "order_lab" in raw:
            return [{"type": "create", "description": label, "resource": self._lab_order(raw["order_lab"])}]
        if draft is None or base is None:
            return []   # a change to a draft needs the draft itself
        if raw.get("delete_draft"):
            return [{"type": "delete", "description": label, "resourceId": f"MedicationRequest/{base['id']}"}]
        if "replace_draft" in raw:
            edited = self.orders.edited(base, draft, raw["replace_draft"])
            return [{"type": "update", "description": label, "resource": edited}] if edited else []
        if "regimen" in raw:
            regimen = self.rulebook.regimens[raw["regimen"]]
            start = self._start(draft)
            actions = [{"type": "update", "description": label, "resource": self.orders.course(regimen, base, start)}]
            return actions + self._following(regimen, start, label)
        regimen = self.rulebook.regimens[raw["add_regimen"]]
        after = self._start(draft) + timedelta(days=max(0, round(draft.get("ends_in_days") or 0)))
        return [{"type": "create", "description": label, "resource": self.orders.course(regimen, None, after)}]

    def _following(self, regimen: Any, start: date, label: str) -> list[dict[str, Any]]:
        """The order of what follows a course, starting the day after it ends."""
        follow = self.rulebook.regimens.get(regimen.then) if regimen.then else None
        end = self.orders.course_end(regimen, start)
        if follow is None or end is None:
            return []
        return [{"type": "create", "description": label, "resource": self.orders.course(follow, None, end)}]

    def _start(self, draft: dict[str, Any]) -> date:
        """When the draft starts: its boundsPeriod.start, else today."""
        return self.today + timedelta(days=max(0, round(draft.get("starts_in_days") or 0)))

    def _lab_order(self, lab: dict[str, str]) -> dict[str, Any]:
        return {
            "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
            "code": {"coding": [{"system": "http://loinc.org", "code": lab["loinc"], "display": lab["display"]}],
                     "text": lab["display"]},
            "subject": {"reference": f"Patient/{self.orders.patient_id}"},
        }


def holds(conditions: dict[str, Any], facts: dict[str, dict[str, Any]]) -> bool:
    """Whether the matched facts have the values an `if` asks for (a list: one of them; null: unknown)."""
    for name, wanted in conditions.items():
        alias, _, field = name.partition(".")
        value = facts.get(alias, {}).get(field)
        if value not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    return True


def _yields(match: _Match, matches: Any) -> bool:
    """Whether another card is one this rule yields to: on the same order, or anywhere in the request
    when this card is about the patient."""
    yields = match.rule.yields_to
    return bool(yields) and any(match.order in (other.order, "patient") and other.rule.id != match.rule.id
                                and ("any" in yields or other.rule.id in yields) for other in matches)

