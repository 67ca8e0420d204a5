"""Facts as a recorded evaluation keeps them (CDS_RECORD_FACTS=on): the engine's input with nothing that
names or describes the patient, so a corpus of real calls can be replayed through edited rules.

What is kept, field by field (docs/lifecycle.md has the table):
- numbers, yes/no fields and fields with a fixed set of values (the catalogue's Literal types), as they are:
  every time is already relative (days_ago, starts_in_days, …), i.e. days before the call;
- text whose values come from the rule files' own vocabularies (KEPT_TEXT: lab kinds and units, value-set
  names, route names);
- `age_years` in whole years, 90 and over as 90 (a birth date is an identifier; `adult` is kept exact);
- identifiers (IDENTIFIERS: order, observation and patient ids) replaced by pseudonyms that hold within the
  evaluation only (o1, o2, …), so a card's order and a duplicate's reference still match;
- every other text (order and dosage text, product names, finding words, card-text fields, absolute dates)
  replaced by SCRUBBED, which keeps only that the field was known (rules test such fields for `known`).
Anything new in the fact model is text scrubbed unless listed here: a new field cannot leak by default.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields
from functools import cache
from typing import Any, Literal, get_args, get_origin, get_type_hints

from cds.facts.model import FACT_TYPES

SCRUBBED = "[not recorded]"
AGE_CAP = 90   # HIPAA Safe Harbor: ages over 89 in one group

KEPT_TEXT: dict[tuple[str, str], str] = {
    ("lab", "id"): "lab:<its kind>",
    ("finding", "id"): "finding:<its value set>",
    ("lab_order", "id"): "lab_order:<its kind>",
    ("lab", "kind"): "a lab kind of facts.yaml",
    ("lab", "unit"): "the lab kind's canonical unit (facts.yaml)",
    ("lab", "comparator"): "<, <=, > or >=",
    ("lab_unit_problem", "kind"): "a lab kind of facts.yaml",
    ("lab_unit_problem", "kind_text"): "the lab kind's name (Hb, B12, …)",
    ("lab_unit_problem", "cause_text"): "one of five fixed causes",
    ("draft_order", "route_text"): "a route name of valuesets.yaml",
    ("order", "route_text"): "a route name of valuesets.yaml",
    ("finding", "valueset"): "a value-set name of valuesets.yaml",
    ("lab_order", "kind"): "a lab kind of facts.yaml",
}
IDENTIFIERS = frozenset({("patient", "id"), ("lab_unit_problem", "id"), *(
    (kind, name) for kind in ("draft_order", "order") for name in ("id", "order_id", "duplicate_of"))})
COARSENED = frozenset({("patient", "age_years")})


def scrubbed(facts: list[dict[str, Any]], about: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The facts (engine_facts) as recorded, and `about` (card uuid → the order it is about) with the same
    pseudonyms."""
    names = _Pseudonyms()
    recorded = [{name: _kept(fact["type"], name, value, names) for name, value in fact.items()} for fact in facts]
    return recorded, {uuid: names.subject(subject) for uuid, subject in about.items()}


def recorded_evaluation(facts: list[dict[str, Any]], about: dict[str, str], shown: list[dict[str, Any]],
                        silent: list[dict[str, Any]], rules_digest: str, profile: str) -> dict[str, Any]:
    """What is recorded of one complete evaluation: its facts scrubbed, and its cards as
    [rule, indicator, order, silent] (the order pseudonymised as in the facts), under the fact-model version."""
    recorded, orders = scrubbed(facts, about)
    return {"fact_model": fact_model_version(), "rules_digest": rules_digest, "profile": profile,
            "facts": recorded, "cards": card_outcomes(shown, silent, orders)}


def card_outcomes(shown: list[dict[str, Any]], silent: list[dict[str, Any]],
                  about: dict[str, str]) -> list[list[Any]]:
    """Each card as [rule, indicator, the order it is about (by `about`, card uuid → order; else "patient"),
    silent]: how a recorded evaluation keeps its cards, and how an impact preview compares cards."""
    return [[card["source"]["topic"]["code"], card["indicator"], about.get(card["uuid"], "patient"), hidden]
            for hidden, group in ((False, shown), (True, silent)) for card in group]


def inexact_fields() -> frozenset[tuple[str, str]]:
    """(fact type, field) whose recorded value is not the live one beyond being known: a rule testing one
    (other than `known`) may replay differently."""
    return frozenset((kind, name) for kind in FACT_TYPES for name in _text_fields(kind)
                     if (kind, name) not in KEPT_TEXT and (kind, name) not in IDENTIFIERS) | COARSENED


@cache
def fact_model() -> dict[str, dict[str, str]]:
    """Every fact type's fields and their types, and how each is recorded: what a recorded corpus needs of
    the code that replays it."""
    model = {kind: {name: f"{hint}" for name, hint in get_type_hints(FACT_TYPES[kind].model).items()}
             for kind in FACT_TYPES}
    inexact = inexact_fields()
    for kind, named in model.items():
        for name in named:
            how = ("pseudonym" if (kind, name) in IDENTIFIERS else "coarsened" if (kind, name) in COARSENED
                   else "scrubbed" if (kind, name) in inexact else "kept")
            named[name] = f"{named[name]} ({how})"
    return model


@cache
def fact_model_version() -> str:
    """A digest of `fact_model()`: recorded facts can be replayed by code of the same version only."""
    text = json.dumps(fact_model(), sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:12]


def model_changes(recorded: dict[str, dict[str, str]]) -> list[str]:
    """What differs between a recorded fact model and this code's, one line per field."""
    current = fact_model()
    lines = []
    for kind in sorted(set(recorded) | set(current)):
        then, now = recorded.get(kind, {}), current.get(kind, {})
        for name in sorted(set(then) | set(now)):
            if then.get(name) != now.get(name):
                lines.append(f"{kind}.{name}: recorded {then.get(name) or 'absent'}, now {now.get(name) or 'absent'}")
    return lines


class _Pseudonyms:
    """Ids replaced in order of appearance: orders o1, o2, …; results r1, r2, …; the patient `patient`."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def of(self, kind: str, value: str) -> str:
        if kind == "patient":
            return "patient:recorded"
        if kind == "lab_unit_problem":
            return self._named(value, "problem:r")
        order, _, step = value.partition("#")   # a later dosage step: <order id>#<step>
        return self._named(order, "o") + (f"#{step}" if step else "")

    def subject(self, subject: str) -> str:
        """A card's order ('draft_order:<id>', 'order:<id>', 'lab_unit_problem:<id>' or 'patient') pseudonymised."""
        kind, _, value = subject.partition(":")
        return subject if not value else f"{kind}:{self.of(kind, value)}"

    def _named(self, value: str, prefix: str) -> str:
        return self._names.setdefault(value, f"{prefix}{len(self._names) + 1}")


def _kept(kind: str, name: str, value: Any, names: _Pseudonyms) -> Any:
    if name == "type" or value is None:
        return value
    if (kind, name) in IDENTIFIERS:
        return names.of(kind, str(value))
    if (kind, name) in COARSENED:
        return min(math.floor(value), AGE_CAP) if isinstance(value, int | float) and math.isfinite(value) else None
    if isinstance(value, bool | int | float) or (kind, name) in KEPT_TEXT or name in _literal_fields(kind):
        return value
    return SCRUBBED


@cache
def _text_fields(kind: str) -> frozenset[str]:
    """Fields that hold free text: str, not one of a fixed set of values."""
    model = FACT_TYPES[kind].model
    return frozenset(f.name for f in fields(model) if f.name not in _literal_fields(kind)
                     and str in (get_args(hint := get_type_hints(model)[f.name]) or (hint,)))


@cache
def _literal_fields(kind: str) -> frozenset[str]:
    hints = get_type_hints(FACT_TYPES[kind].model)
    return frozenset(name for name, hint in hints.items() if get_origin(hint) is Literal or any(
        get_origin(arg) is Literal for arg in get_args(hint)))
