"""JSON Schema errors as located load errors: the line of what was written, and for a fact field (in a
`where` or an inline example) the fact catalogue's words: what the field is and what to write."""

from __future__ import annotations

from datetime import date

from jsonschema import ValidationError

from cds.facts.catalogue import FieldSpec, catalogue, field_spec
from cds.rulebook.checks import closest
from cds.rulebook.model import LoadError
from cds.rulebook.yamlsource import Path_, YamlDocument

_OPERATORS = ("eq", "ne", "in", "known")


def schema_error(document: YamlDocument, error: ValidationError) -> LoadError:
    """The load error for one schema error of `document`."""
    while error.context:  # oneOf/anyOf: the deepest error is the one about what was written
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator == "additionalProperties"))
    pointer = tuple(error.absolute_path)
    location = "/".join(map(str, pointer)) or "(top level)"
    unexpected = _unexpected(error)
    if unexpected is not None:  # point at the misspelt key itself
        pointer = (*pointer, unexpected)
    message, hint = _fact_field(document, pointer, error, unexpected) or (f"{location}: {_short(error.message)}",
                                                                          _hint(error, pointer, unexpected))
    return LoadError(str(document.path), document.line_of(pointer), message, _rule_id(document, pointer), hint)


def _unexpected(error: ValidationError) -> str | None:
    """The first key an `additionalProperties: false` object does not allow."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return None
    known = error.schema.get("properties", {})
    return next((str(key) for key in error.instance if key not in known), None)


def _hint(error: ValidationError, pointer: Path_, unexpected: str | None) -> str | None:
    if unexpected is not None:
        known = set(error.schema.get("properties", {}))
        return closest(unexpected, known) or f"known here: {', '.join(sorted(known))}"
    if error.validator == "oneOf" and "when" in pointer:
        return "a condition is either {fact: TYPE, where: ...} or {absent: TYPE, where: ...}"
    if error.validator == "type" and isinstance(error.instance, date):
        return 'quote dates written as text, e.g. version: "2026-11-25"'
    return None


def _fact_field(document: YamlDocument, pointer: Path_, error: ValidationError,
                unexpected: str | None) -> tuple[str, str] | None:
    """Message and hint for a mistake in a fact field's test or example value, or None elsewhere."""
    found = _fact_and_field(document, pointer)
    if found is None:
        return None
    fact_type, names = found
    if not names:
        return None
    if unexpected is not None and names == [unexpected]:
        known = set(catalogue()[fact_type].fields)
        return (f"'{fact_type}' facts have no field '{unexpected}'",
                closest(unexpected, known) or f"`cds rules facts {fact_type}` lists its fields")
    spec = field_spec(fact_type, names[0])
    if spec is None:
        return None
    subject = f"'{fact_type}.{spec.name}'"
    if unexpected is not None:
        operators = _OPERATORS + (("lt", "le", "gt", "ge") if spec.numeric else ())
        return (f"'{unexpected}' does not apply to {subject} ({spec.kind})",
                f"write {spec.expects()}; operators here: {', '.join(operators)}")
    written = error.instance
    if spec.values and isinstance(written, str):
        return f"{subject} is never '{written}'", closest(written, set(spec.values)) or f"write {spec.expects()}"
    return f"{subject} is {spec.kind}, not {written!r}", f"write {_expected(spec)}"


def _expected(spec: FieldSpec) -> str:
    return spec.expects() + (" (no quotes)" if spec.numeric else "")


def _fact_and_field(document: YamlDocument, pointer: Path_) -> tuple[str, list[str]] | None:
    """The fact type and the field names below it, for a pointer into a condition's `where` or an inline
    example's `facts`."""
    if "where" in pointer:
        at = pointer.index("where")
        condition = document.at(pointer[:at])
        fact_type = condition.get("fact") or condition.get("absent") if isinstance(condition, dict) else None
    elif "facts" in pointer and pointer.index("facts") + 1 < len(pointer):
        at = pointer.index("facts") + 1
        fact_type = pointer[at]
    else:
        return None
    if fact_type not in catalogue():
        return None
    return str(fact_type), [str(key) for key in pointer[at + 1:] if isinstance(key, str) and key != "any"]


def _rule_id(document: YamlDocument, pointer: Path_) -> str | None:
    if len(pointer) >= 2 and pointer[0] == "rules" and isinstance(document.data, dict):
        rules = document.data.get("rules") or []
        if isinstance(pointer[1], int) and pointer[1] < len(rules) and isinstance(rules[pointer[1]], dict):
            return rules[pointer[1]].get("id")
    return None


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."
