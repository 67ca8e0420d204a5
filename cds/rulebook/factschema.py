"""The rule-pack schema's fact part, made from the fact catalogue: for each fact type, the fields a `where`
may test and an inline example may set, with their types, units, allowed values and meanings, so that an
editor completes and flags them (and the loader, which validates with the same file, agrees).

The part lives in rules/schema/rule-pack.schema.json, beside the hand-written rest, because editors read a
schema from one file. After a change of cds/facts/model.py, write it anew with
`python -m cds.rulebook.factschema`; a test fails while the file is out of date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds import BUNDLED_RULES
from cds.facts.catalogue import YES_NO, FieldSpec, catalogue

SCHEMA_FILE = BUNDLED_RULES / "schema" / "rule-pack.schema.json"
_GENERATED_PREFIXES = ("where.", "facts.")


def fact_defs() -> dict[str, Any]:
    """The generated $defs: fact types, each type's `where` and inline-example fields, and the conditions'
    choice of `where` by fact type."""
    specs = catalogue()
    defs: dict[str, Any] = {
        "factType": {"enum": list(specs), "description": "A fact type (`cds rules facts` lists them)."},
        "fact_where": _where_by("fact"),
        "absent_where": _where_by("absent"),
        "parameter_ref": {"type": "string", "pattern": r"^\$",
                          "description": "A parameter of the pack ($name) or a facts.yaml value ($status.name)."},
        "expression": {"type": "string", "pattern": "^=",
                       "description": "=an expression over earlier facts: numbers, $parameters, alias.field, + - * /"},
        "example_facts": {
            "type": "object", "minProperties": 1, "additionalProperties": False,
            "description": "The facts of an inline example, by fact type: one fact, or a list of them (one patient "
                           "at most). A field left out is unknown (or its default).",
            "properties": {name: _one_or_more(name, spec.count == "one") for name, spec in specs.items()},
        },
        **{f"test.{kind}": _test(value, numeric=kind == "number") for kind, value in _VALUES.items()},
    }
    for name, spec in specs.items():
        defs[f"where.{name}"] = {
            "type": "object", "additionalProperties": False,
            "description": f"Tests on a {name} fact ({spec.meaning}). All must hold.",
            "properties": {"any": {"type": "array", "minItems": 1, "description": "At least one branch holds.",
                                   "items": {"$ref": f"#/$defs/where.{name}", "minProperties": 1}},
                           **{field.name: {"description": _described(field), **_field_test(field)}
                              for field in spec.fields.values()}},
        }
        defs[f"facts.{name}"] = {
            "type": "object", "additionalProperties": False, "description": f"A {name} fact: {spec.meaning}.",
            "properties": {field.name: {"description": _described(field), **_example_value(field)}
                           for field in spec.fields.values() if field.name != "id"},
        }
    return defs


def updated(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its generated $defs made anew from the catalogue (the hand-written ones kept)."""
    generated = fact_defs()
    kept = {key: value for key, value in schema["$defs"].items()
            if key not in generated and not key.startswith(_GENERATED_PREFIXES)}
    return {**schema, "$defs": {**kept, **generated}}


def write(path: Path = SCHEMA_FILE) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(updated(schema), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _where_by(key: str) -> dict[str, Any]:
    """`where` checked against the fields of the fact type that `key` (fact or absent) names."""
    return {"allOf": [{"if": {"required": [key], "properties": {key: {"const": name}}},
                       "then": {"properties": {"where": {"$ref": f"#/$defs/where.{name}"}}}}
                      for name in catalogue()]}


_VALUES: dict[str, dict[str, Any]] = {   # a value a rule compares a field with, by the field's type
    "yes_no": {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/parameter_ref"}]},
    "number": {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/parameter_ref"}, {"$ref": "#/$defs/expression"}]},
    "text": {"type": "string"},
}


def _field_test(field: FieldSpec) -> dict[str, Any]:
    """What a `where` may write under `field`: its fixed values, else the test of its type."""
    if field.values:
        return _test({"enum": list(field.values)}, numeric=False)
    return {"$ref": f"#/$defs/test.{'yes_no' if field.kind == YES_NO else 'number' if field.numeric else 'text'}"}


def _test(value: dict[str, Any], numeric: bool) -> dict[str, Any]:
    """A value, a list of values (one of) or operators; lt, le, gt and ge only on numbers."""
    operators: dict[str, Any] = {"eq": value, "ne": value, "in": {"type": "array", "minItems": 1, "items": value},
                                 "known": {"type": "boolean", "description": "The field is known (false: unknown)."}}
    if numeric:
        operators |= {op: value for op in ("lt", "le", "gt", "ge")}
    return {"anyOf": [value, {"type": "array", "minItems": 1, "items": value},
                      {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": operators}]}


def _one_or_more(fact_type: str, one: bool) -> dict[str, Any]:
    """An inline example's facts of one type: one fact, or a list where a request may have several."""
    fact = {"$ref": f"#/$defs/facts.{fact_type}"}
    return fact if one else {"anyOf": [fact, {"type": "array", "minItems": 1, "items": fact}]}


def _example_value(field: FieldSpec) -> dict[str, Any]:
    """A field's value in an inline example; null is unknown where the field may be."""
    unknown = [None] if field.may_be_unknown else []
    if field.values:
        return {"enum": [*field.values, *unknown]}
    kind = "boolean" if field.kind == YES_NO else "number" if field.numeric else "string"
    return {"type": [kind, "null"] if unknown else kind}


def _described(field: FieldSpec) -> str:
    """The field's meaning, then its type, unit and where its values come from: an editor's hover text."""
    about = [field.kind, *filter(None, (field.unit, field.values_from and f"a name of {field.values_from}")),
             *(["may be unknown"] if field.may_be_unknown else [])]
    return f"{field.meaning} ({', '.join(about)})"

if __name__ == "__main__":
    write()
