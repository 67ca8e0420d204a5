"""Checks a schema cannot express: fact fields, aliases, parameters, templates, references."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterator
from typing import Any

from cds.facts.catalogue import FieldSpec, catalogue, field_spec
from cds.facts.units import Units
from cds.rulebook.conditions import Condition, FactCondition, Invalid, Operand, SettingCondition
from cds.rulebook.expressions import BinaryOp, FieldRef, Literal, Param, Value, constant, references
from cds.rulebook.literals import stale_literals
from cds.rulebook.model import SUMMARY_LIMIT, LoadError, Pack, Rule
from cds.rulebook.regimens import Regimen
from cds.rulebook.values import RuleValues
from cds.rulebook.yamlsource import YamlDocument

# ISMP error-prone abbreviations: card text says "mcg".
_UNSAFE_UNITS = re.compile(r"µg|μg|\bug\b")
_FORMATTER = string.Formatter()


class _RuleChecker:
    """Collects the errors of one rule, each located at the YAML line it concerns."""

    def __init__(self, document: YamlDocument, index: int, rule: Rule, parameters: dict[str, Any],
                 values: dict[str, set[str]], texts: RuleValues, regimens: dict[str, Regimen],
                 products: set[str]):
        self.document = document
        self.rule = rule
        self.base = ("rules", index)
        self.parameters = parameters
        self.values = values
        self.texts = texts
        self.regimens = regimens
        self.products = products
        self.errors: list[LoadError] = []
        self.aliases: dict[str, str] = {}

    def line(self, pointer: tuple) -> int:
        """The line of a part of this rule other than its conditions (which know their own lines)."""
        return self.document.line_of(self.base + pointer)

    def error(self, pointer: tuple, message: str, hint: str | None = None) -> None:
        self.error_at(self.line(pointer), message, hint)

    def error_at(self, line: int, message: str, hint: str | None = None) -> None:
        self.errors.append(LoadError(self.rule.file, line, message, self.rule.id, hint))

    def check(self, pack_name: str) -> list[LoadError]:
        rule = self.rule
        if not rule.id.startswith(pack_name + "."):
            self.error(("id",), f"rule id must start with '{pack_name}.'")
        self.check_conditions(rule.when)
        if not any(isinstance(condition, FactCondition) for condition in rule.when):
            self.error(("when",), "a rule needs at least one 'fact' condition",
                       "absent-only rules have nothing to report on; add e.g. {fact: patient}")
        bound = dict(self.aliases)
        for case in rule.cases:
            self.aliases = dict(bound)
            self.check_conditions(case.when, refining=bound)
        self.aliases = bound
        raw = self.document.at(self.base)
        self.check_card(raw["card"])
        self.check_texts([(("rationale",), raw["rationale"])])
        self.check_severity_overrides()
        return self.errors

    def check_conditions(self, conditions: tuple[Condition | SettingCondition, ...],
                         refining: dict[str, str] | None = None) -> None:
        """`refining`: aliases a case may add tests to (same alias, same fact type)."""
        for condition in conditions:
            if isinstance(condition, SettingCondition):
                if not isinstance(self.parameters.get(condition.parameter), bool):
                    self.error_at(condition.line, f"setting '{condition.parameter}' is not a yes/no parameter "
                                  "of this pack", closest(condition.parameter, {name for name, value in
                                                                                self.parameters.items()
                                                                                if isinstance(value, bool)}))
                continue
            bound = isinstance(condition, FactCondition)
            if bound and refining and refining.get(condition.alias) == condition.fact_type:
                # adds tests to the base condition binding this alias: they may use only the
                # aliases bound before it, as that condition itself may
                names = list(refining)
                visible, self.aliases = self.aliases, {a: refining[a] for a in names[:names.index(condition.alias)]}
                self.check_tests(condition)
                self.aliases = visible
                continue
            self.check_tests(condition)
            if bound:
                if condition.alias in self.aliases:
                    self.error_at(condition.line, f"alias '{condition.alias}' is bound twice",
                                  "name the second one with 'as:'")
                self.aliases[condition.alias] = condition.fact_type

    def check_tests(self, condition: Condition) -> None:
        """Every compared value against the fact catalogue. The schema has checked the fields, the types of the
        values written and the fixed sets of values; here: $parameters' types, the plausible range of a lab
        result, and the values the rule files define (lab kinds, value sets)."""
        for test in condition.tests():
            spec = field_spec(condition.fact_type, test.field)
            if spec is None:   # a field the schema does not know is reported by the schema
                continue
            for operand in (o for comparison in test.comparisons if comparison.op != "known"
                            for o in comparison.operands):
                self.check_value(operand, test.line)
                self.check_type(spec, operand, test.line, condition)
                self.check_allowed(spec, operand, test.line, condition.fact_type)

    def check_type(self, spec: FieldSpec, operand: Operand, line: int, condition: Condition) -> None:
        """A $parameter compared with a field must be of the field's type, and a number compared with a lab
        result must be plausible in the field's unit."""
        subject = f"{condition.fact_type}.{spec.name}"
        if isinstance(operand, Param) and operand.name in self.parameters \
                and not spec.accepts(self.parameters[operand.name]):
            self.error_at(line, f"'${operand.name}' is {self.parameters[operand.name]!r}, and '{subject}' is "
                                f"{spec.kind}", f"compare it with {spec.expects()}")
            return
        kinds = condition.required("kind") if spec.name == "value" else set()
        kind = spec.lab or (next(iter(kinds)) if len(kinds) == 1 else None)
        bounds = self.texts.facts["labs"].get(kind, {}) if kind else {}
        value = _constant(operand, self.parameters) if spec.numeric else None
        low, high = bounds.get("implausible_below"), bounds.get("implausible_above")
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            unit = self.texts.facts["labs"][kind]["canonical"]
            self.error_at(line, f"{value:g} is not a plausible {kind} result in {unit} (facts.yaml labs.{kind}: "
                                f"{low if low is not None else 'any'} to {high if high is not None else 'any'})",
                          f"'{subject}' is in {unit}: was the value written in another unit?")

    def check_allowed(self, spec: FieldSpec, operand: Operand, line: int, fact_type: str) -> None:
        """A field whose values the rule files define (lab kind, value set) must name one of them."""
        allowed = self.values.get(spec.values_from) if spec.values_from else None
        if allowed is not None and isinstance(operand, Literal) and isinstance(operand.value, str) \
                and operand.value not in allowed:
            self.error_at(line, f"'{fact_type}.{spec.name}' is never '{operand.value}'",
                          closest(operand.value, allowed) or f"one of: {', '.join(sorted(allowed))}")

    def check_value(self, operand: Operand, line: int) -> None:
        if isinstance(operand, Invalid):
            self.error_at(line, operand.message, operand.hint)
            return
        for ref in references(operand):
            if isinstance(ref, Param) and ref.name not in self.parameters:
                self.error_at(line, f"parameter '${ref.name}' is not defined",
                              closest(ref.name, set(self.parameters)) or "declare it under the pack's 'parameters:'")
            elif isinstance(ref, FieldRef):
                self.check_field_ref(ref.alias, ref.field, line, "an earlier condition")
                spec = field_spec(self.aliases[ref.alias], ref.field) if ref.alias in self.aliases else None
                if isinstance(operand, BinaryOp) and spec is not None and not spec.numeric:
                    self.error_at(line, f"'{ref.alias}.{ref.field}' is not a number: it cannot be used in arithmetic")
        self.check_divisions(operand, line)

    def check_divisions(self, value: Value, line: int) -> None:
        """A divisor must be a constant other than zero: the engine cannot survive a division by zero."""
        if not isinstance(value, BinaryOp):
            return
        self.check_divisions(value.left, line)
        self.check_divisions(value.right, line)
        if value.op == "$div":
            try:
                divisor = constant(value.right, self.parameters)
            except ZeroDivisionError:
                divisor = 0
            if divisor is None:
                self.error_at(line, "divide only by a number or a $parameter, not by a fact field",
                              "multiply the other side instead: a > b / c is a * c > b")
            elif divisor == 0:
                self.error_at(line, "division by zero")

    def check_field_ref(self, alias: str, field: str, line: int, where: str) -> None:
        if alias not in self.aliases:
            self.error_at(line, f"'{alias}' is not bound by {where}",
                          f"bound aliases: {', '.join(sorted(self.aliases)) or 'none'}")
        elif field_spec(self.aliases[alias], field) is None:
            self.error_at(line, f"'{alias}' ({self.aliases[alias]}) has no field '{field}'",
                          closest(field, set(catalogue()[self.aliases[alias]].fields)))

    def check_card(self, card: dict[str, Any]) -> None:
        self.check_texts([(("card", *pointer), text) for pointer, text in _card_texts(card)])
        for index, suggestion in enumerate(card.get("suggestions", [])):
            self.check_if(suggestion.get("if", {}), ("card", "suggestions", index, "if"))
            for number, test in enumerate(suggestion.get("with_labs", [])):
                self.check_if(test.get("if", {}), ("card", "suggestions", index, "with_labs", number, "if"))
            self.check_suggestion(suggestion, ("card", "suggestions", index))
        for index, note in enumerate(card.get("notes", [])):
            self.check_if(note["if"], ("card", "notes", index, "if"))
        if "draft_order" in self.aliases.values() and set(self.rule.hooks) == {"patient-view"}:
            self.error(("hooks",), "a rule on patient-view alone can never match a draft_order",
                       "patient-view requests carry no draft orders")

    def check_if(self, conditions: dict[str, Any], pointer: tuple) -> None:
        for name in conditions:
            alias, _, field = name.partition(".")
            self.check_field_ref(alias, field, self.line((*pointer, name)), "a condition of this rule")

    def check_suggestion(self, suggestion: dict[str, Any], pointer: tuple) -> None:
        """Regimens and products named must exist; changing or removing a draft needs a draft to change."""
        for key in ("regimen", "add_regimen"):
            if key in suggestion and suggestion[key] not in self.regimens:
                self.error((*pointer, key), f"no regimen '{suggestion[key]}' in regimens.yaml",
                           closest(suggestion[key], set(self.regimens)))
        edit = suggestion.get("replace_draft", {})
        if "product" in edit and edit["product"] not in self.products:
            self.error((*pointer, "replace_draft", "product"), f"no product '{edit['product']}' in regimens.yaml",
                       closest(edit["product"], self.products))
        dose = edit.get("dose", {}).get("value")
        if isinstance(dose, str) and not isinstance(self.texts.get(dose[1:]), int | float):
            self.error((*pointer, "replace_draft", "dose"), f"'{dose}' names no number",
                       closest(dose[1:], set(self.texts.names())))
        if {"replace_draft", "regimen", "add_regimen", "delete_draft"} & set(suggestion) \
                and "draft_order" not in self.aliases.values():
            self.error(pointer, "this suggestion changes the matched draft, and the rule matches none",
                       "add a {fact: draft_order} condition, or order something new (order_lab)")

    def check_texts(self, texts: list[tuple[tuple, str]]) -> None:
        units = Units(self.texts.facts["unit_aliases"])
        named = self.named_quantities(units)
        for here, text in texts:
            if _UNSAFE_UNITS.search(text):
                self.error(here, "write 'mcg', not 'µg' or 'ug' (ISMP error-prone abbreviation)")
            for literal, names in dict(stale_literals(text, named, units)).items():
                placeholders = " or ".join(f"{{${name}}}" for name in names)
                self.error_at(self.document.line_showing(self.base + here, literal),
                              f"'{literal}' is the value of {', '.join('$' + name for name in names)}: write "
                              f"{placeholders} so the text follows it",
                              "a tuned value or a site profile changes it, and the text would go stale; a figure a "
                              "source gives goes in double quotes")
            try:
                parts = list(_FORMATTER.parse(text))
            except ValueError as error:
                self.error(here, f"bad template: {error}", "write literal braces as {{ }}")
                continue
            for _, name, spec, conversion in parts:
                if name is None:
                    continue
                alias, _, field = name.partition(".")
                if name.startswith("$"):
                    if self.texts.get(name[1:]) is None:
                        self.error(here, f"placeholder '{{{name}}}' names no parameter of this pack, facts.yaml "
                                   "value or regimen", closest(name[1:], set(self.texts.names())))
                elif not field:
                    self.error(here, f"placeholder '{{{name}}}' must be alias.field")
                elif spec or conversion:
                    self.error(here, f"placeholder '{{{name}}}' has a format option",
                               "write {alias.field} alone: numbers are formatted for you")
                else:
                    self.check_field_ref(alias, field, self.line(here), "a condition of this rule")
            if here == ("card", "detail") and _run_together(text):
                self.error(here, "a bold-labelled line runs into the paragraph above it when rendered",
                           "put a blank line between them (EHRs render detail as markdown)")
            if here == ("card", "summary"):
                fixed = "".join(literal for literal, *_ in parts)
                if len(fixed) > SUMMARY_LIMIT:
                    self.error(here, f"the summary's own text is {len(fixed)} characters; cards allow {SUMMARY_LIMIT}",
                               "move detail into 'detail'")

    def named_quantities(self, units: Units) -> dict[str, tuple[float, str]]:
        """The numbers with a unit this rule uses, by name: what its text must write as placeholders."""
        found = {}
        for name, value in self.rule.values.items():
            unit = self.texts.unit(name)
            ucum = units.ucum(None, None, unit) if unit else None
            if ucum and isinstance(value, int | float) and not isinstance(value, bool):
                found[name] = (float(value), ucum)
        return found

    def check_severity_overrides(self) -> None:
        rule = self.rule
        severities = {rule.indicator, *(case.indicator for case in rule.cases)} - {"none"}
        if severities & {"warning", "critical"} and not rule.card.get("override_reasons"):
            self.error(("card",), "warning and critical rules must offer override_reasons",
                       "e.g. override_reasons: [symptoms-reviewed]")


def check_pack(document: YamlDocument, pack: Pack, values: dict[str, set[str]], texts: RuleValues,
               regimens: dict[str, Regimen], products: set[str]) -> list[LoadError]:
    """Semantic errors of `pack`, built from the schema-valid `document`; `values`: the names lab kinds
    and findings may take; `texts`: what {$...} may name; `regimens`, `products`: what suggestions may order."""
    errors: list[LoadError] = []
    for index, rule in enumerate(pack.rules):
        errors.extend(_RuleChecker(document, index, rule, pack.parameters, values, texts, regimens,
                                   products).check(pack.name))
    return errors


def check_yields(packs: list[Pack]) -> list[LoadError]:
    """A rule may yield only to rules that exist (or to 'any' card)."""
    known = {rule.id for pack in packs for rule in pack.rules}
    return [LoadError(rule.file, rule.line, f"yields_to names no rule '{other}'", rule.id, closest(other, known))
            for pack in packs for rule in pack.rules for other in rule.yields_to
            if other != "any" and other not in known]


def check_regimens(document: YamlDocument, data: dict[str, Any]) -> list[LoadError]:
    """Every regimen orders a known product and is followed by a known regimen, with no loop; only a
    last step may be open-ended."""
    errors = []
    products, regimens = data["products"], data["regimens"]
    for name, spec in regimens.items():
        where = document.line_of(("regimens", name))
        if spec["product"] not in products:
            errors.append(LoadError(str(document.path), where, f"regimen '{name}' orders unknown product "
                                    f"'{spec['product']}'", hint=closest(spec["product"], set(products))))
        if any("count" not in step and "weeks" not in step for step in spec["steps"][:-1]):
            errors.append(LoadError(str(document.path), where, f"regimen '{name}': only its last step may "
                                    "be open-ended", hint="give each earlier step a count or weeks"))
        seen, following = {name}, spec.get("then")
        while following is not None:
            if following not in regimens:
                errors.append(LoadError(str(document.path), where, f"regimen '{name}' is followed by unknown "
                                        f"regimen '{following}'", hint=closest(following, set(regimens))))
                break
            if following in seen:
                errors.append(LoadError(str(document.path), where, f"regimen '{name}' is followed by itself"))
                break
            seen.add(following)
            following = regimens[following].get("then")
    return errors


def check_services(document: YamlDocument, pack_names: set[str], override_reasons: set[str],
                   packs: list[Pack]) -> list[LoadError]:
    """Services must name existing packs, once each; rules must name declared override reasons."""
    errors = []
    seen: set[str] = set()
    for index, service in enumerate(document.data["services"]):
        if service["id"] in seen:
            errors.append(LoadError(str(document.path), document.line_of(("services", index, "id")),
                                    f"service id '{service['id']}' is declared twice"))
        seen.add(service["id"])
        for pack in service["packs"]:
            if pack not in pack_names:
                errors.append(LoadError(str(document.path), document.line_of(("services", index, "packs")),
                                        f"service '{service['id']}' names unknown pack '{pack}'",
                                        hint=f"known packs: {', '.join(sorted(pack_names))}"))
    for rule in (rule for pack in packs for rule in pack.rules):
        for reason in rule.card.get("override_reasons", []):
            if reason not in override_reasons:
                errors.append(LoadError(rule.file, rule.line, f"unknown override reason '{reason}'", rule.id,
                                        closest(reason, override_reasons)
                                        or f"declared in services.yaml: {', '.join(sorted(override_reasons))}"))
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


def _card_texts(card: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    yield ("summary",), card["summary"]
    yield ("detail",), card["detail"]
    for index, suggestion in enumerate(card.get("suggestions", [])):
        yield ("suggestions", index, "label"), suggestion["label"]
    for index, note in enumerate(card.get("notes", [])):
        yield ("notes", index, "text"), note["text"]


_BOLD_LABEL = re.compile(r"\*\*[^*]+:\*\*")


def _run_together(text: str) -> bool:
    """Whether a line opening with a bold label ("**Results:**") directly follows a line of text:
    markdown joins them into one paragraph."""
    lines = [line.strip() for line in text.splitlines()]
    return any(_BOLD_LABEL.match(line) and previous and not previous.startswith("-")
               for previous, line in zip(lines, lines[1:], strict=False))


def _constant(operand: Operand, parameters: dict[str, Any]) -> float | None:
    """The number an operand stands for when it uses no fact field (None too for a division by zero, which
    check_divisions reports)."""
    if isinstance(operand, Invalid):
        return None
    try:
        return constant(operand, parameters)
    except ZeroDivisionError:
        return None


def closest(name: str, candidates: set[str]) -> str | None:
    """A "did you mean" hint for a misspelt name, or None."""
    match = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f"did you mean '{match[0]}'?" if match else None

