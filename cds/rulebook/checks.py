"""Checks a schema cannot express: fact fields, aliases, parameters, templates, references."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterator
from typing import Any

from cds.facts.model import fact_fields
from cds.facts.units import Units
from cds.rulebook.expressions import ExpressionError, FieldRef, Param, parse_value, references
from cds.rulebook.model import LoadError, Pack
from cds.rulebook.yamlsource import YamlDocument

# ISMP error-prone abbreviations: card text says "mcg".
_UNSAFE_UNITS = re.compile(r"µg|μg|\bug\b")
_FORMATTER = string.Formatter()


class _RuleChecker:
    """Collects the errors of one rule, each located at the YAML line it concerns."""

    def __init__(self, document: YamlDocument, index: int, parameters: set[str], valuesets: set[str] | None):
        self.document = document
        self.rule = document.data["rules"][index]
        self.base = ("rules", index)
        self.parameters = parameters
        self.valuesets = valuesets
        self.errors: list[LoadError] = []
        self.aliases: dict[str, str] = {}

    def error(self, pointer: tuple, message: str, hint: str | None = None) -> None:
        line = self.document.line_of(self.base + pointer)
        self.errors.append(LoadError(str(self.document.path), line, message, self.rule.get("id"), hint))

    def check(self, pack_name: str) -> list[LoadError]:
        rule = self.rule
        if not rule["id"].startswith(pack_name + "."):
            self.error(("id",), f"rule id must start with '{pack_name}.'")
        self.check_conditions(rule["when"], ("when",))
        if not any("fact" in condition for condition in rule["when"]):
            self.error(("when",), "a rule needs at least one 'fact' condition",
                       "absent-only rules have nothing to report on; add e.g. {fact: patient}")
        bound = dict(self.aliases)
        for index, escalation in enumerate(rule.get("escalate", [])):
            self.aliases = dict(bound)
            self.check_conditions(escalation["when"], ("escalate", index, "when"), refining=bound)
        self.aliases = bound
        self.check_card(rule["card"])
        self.check_severity_overrides()
        return self.errors

    def check_conditions(self, conditions: list[dict[str, Any]], pointer: tuple,
                         refining: dict[str, str] | None = None) -> None:
        """`refining`: aliases an escalation may add tests to (same alias, same fact type)."""
        for index, condition in enumerate(conditions):
            here = (*pointer, index)
            fact_type = condition.get("fact") or condition.get("absent")
            self.check_where(condition.get("where") or {}, fact_type, (*here, "where"))
            if "fact" in condition:
                alias = condition.get("as", fact_type)
                if refining and refining.get(alias) == fact_type:
                    continue  # adds tests to the base condition binding this alias
                if alias in self.aliases:
                    self.error(here, f"alias '{alias}' is bound twice", "name the second one with 'as:'")
                self.aliases[alias] = fact_type

    def check_where(self, where: dict[str, Any], fact_type: str, pointer: tuple) -> None:
        known = fact_fields(fact_type)
        for key, test in where.items():
            if key == "any":
                for index, branch in enumerate(test):
                    self.check_where(branch, fact_type, (*pointer, "any", index))
                continue
            if key not in known:
                self.error((*pointer, key), f"'{fact_type}' facts have no field '{key}'",
                           _closest(key, known))
            for value in _operands(test):
                self.check_value(value, (*pointer, key))
                if fact_type == "finding" and key == "valueset":
                    self.check_valueset(value, (*pointer, key))

    def check_valueset(self, name: Any, pointer: tuple) -> None:
        """`valueset` of a finding must name a value set of valuesets.yaml (None: that file failed to load)."""
        if self.valuesets is not None and name not in self.valuesets:
            self.error(pointer, f"no value set '{name}' in valuesets.yaml",
                       _closest(str(name), self.valuesets) or "add it to valuesets.yaml")

    def check_value(self, raw: Any, pointer: tuple) -> None:
        try:
            value = parse_value(raw)
        except ExpressionError as error:
            self.error(pointer, str(error))
            return
        for ref in references(value):
            if isinstance(ref, Param) and ref.name not in self.parameters:
                self.error(pointer, f"parameter '${ref.name}' is not defined",
                           "declare it under the pack's 'parameters:'")
            elif isinstance(ref, FieldRef):
                self.check_field_ref(ref.alias, ref.field, pointer, "earlier condition")

    def check_field_ref(self, alias: str, field: str, pointer: tuple, where: str) -> None:
        if alias not in self.aliases:
            self.error(pointer, f"'{alias}' is not bound by an {where}",
                       f"bound aliases: {', '.join(sorted(self.aliases)) or 'none'}")
        elif field not in fact_fields(self.aliases[alias]):
            self.error(pointer, f"'{alias}' ({self.aliases[alias]}) has no field '{field}'",
                       _closest(field, fact_fields(self.aliases[alias])))

    def check_card(self, card: dict[str, Any]) -> None:
        for pointer, text in _card_texts(card):
            if _UNSAFE_UNITS.search(text):
                self.error(("card", *pointer), "write 'mcg', not 'µg' or 'ug' (ISMP error-prone abbreviation)")
            try:
                fields = [name for _, name, _, _ in _FORMATTER.parse(text) if name is not None]
            except ValueError as error:
                self.error(("card", *pointer), f"bad template: {error}", "write literal braces as {{ }}")
                continue
            for name in fields:
                alias, _, field = name.partition(".")
                if not field:
                    self.error(("card", *pointer), f"placeholder '{{{name}}}' must be alias.field")
                else:
                    self.check_field_ref(alias, field, ("card", *pointer), "condition of this rule")

    def check_severity_overrides(self) -> None:
        severities = {self.rule["indicator"], *(e["indicator"] for e in self.rule.get("escalate", []))}
        if severities & {"warning", "critical"} and not self.rule["card"].get("override_reasons"):
            self.error(("card",), "warning and critical rules must offer override_reasons",
                       "e.g. override_reasons: [symptoms-reviewed]")


def check_pack(document: YamlDocument, valuesets: set[str] | None) -> list[LoadError]:
    """Semantic errors of one schema-valid pack file; `valuesets`: the names findings may use."""
    data = document.data
    parameters = set(data.get("parameters") or {})
    errors: list[LoadError] = []
    for index in range(len(data["rules"])):
        errors.extend(_RuleChecker(document, index, parameters, valuesets).check(data["pack"]))
    return errors


def check_services(document: YamlDocument, pack_names: set[str], override_reasons: set[str],
                   packs: list[Pack]) -> list[LoadError]:
    """Services must name existing packs; rules must name declared override reasons."""
    errors = []
    for index, service in enumerate(document.data["services"]):
        for pack in service["packs"]:
            if pack not in pack_names:
                errors.append(LoadError(str(document.path), document.line_of(("services", index, "packs")),
                                        f"service '{service['id']}' names unknown pack '{pack}'",
                                        hint=f"known packs: {', '.join(sorted(pack_names))}"))
    for rule in (rule for pack in packs for rule in pack.rules):
        for reason in rule.card.get("override_reasons", []):
            if reason not in override_reasons:
                errors.append(LoadError(rule.file, rule.line, f"unknown override reason '{reason}'",
                                        rule.id, f"declared in services.yaml: {', '.join(sorted(override_reasons))}"))
    return errors


def check_units(document: YamlDocument) -> list[LoadError]:
    """Every unit facts.yaml names must be UCUM, and each lab's accepted units convertible to its canonical."""
    errors = []

    def error(pointer: tuple, message: str, hint: str) -> None:
        errors.append(LoadError(str(document.path), document.line_of(pointer), message, hint=hint))

    for alias, target in document.data["unit_aliases"].items():
        if not Units.is_ucum(target):
            error(("unit_aliases", alias), f"unit alias '{alias}' maps to '{target}', which is not UCUM",
                  "write a UCUM code, e.g. ug, ng/L, mL/min/{1.73_m2}")
    for kind, spec in document.data["labs"].items():
        for index, unit in enumerate(spec["units"]):
            if Units.convert(1.0, unit, spec["canonical"], spec.get("molar_mass_g_per_mol")) is None:
                error(("labs", kind, "units", index),
                      f"lab '{kind}': '{unit}' cannot be converted to '{spec['canonical']}'",
                      "use a UCUM unit of the same dimension, or give molar_mass_g_per_mol for mol <-> mass")
    return errors


def _operands(test: Any) -> Iterator[Any]:
    if isinstance(test, dict):
        for op, value in test.items():
            if op != "known":
                yield from (value if isinstance(value, list) else [value])
    else:
        yield from (test if isinstance(test, list) else [test])


def _card_texts(card: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    yield ("summary",), card["summary"]
    yield ("detail",), card["detail"]
    for index, suggestion in enumerate(card.get("suggestions", [])):
        yield ("suggestions", index, "label"), suggestion["label"]
        for kind in ("replace_draft", "add_medication"):
            for part in ("text", "instructions"):
                if part in suggestion.get(kind, {}):
                    yield ("suggestions", index, kind, part), suggestion[kind][part]


def _closest(name: str, candidates: set[str]) -> str | None:
    match = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f"did you mean '{match[0]}'?" if match else None

