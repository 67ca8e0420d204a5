"""The fact catalogue: every fact type rules may name and every field, with its type, unit, allowed values
and meaning, read from the fact dataclasses of cds.facts.model (where they are written, once). The docs'
fact reference, `cds rules facts`, the rule-pack schema's field names and the rule checks all read this."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from functools import cache
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from cds.facts.model import FACT_TYPES

YES_NO, NUMBER, WHOLE_NUMBER, TEXT, ONE_OF = "yes/no", "number", "whole number", "text", "one of"
_KINDS = {bool: YES_NO, int: WHOLE_NUMBER, float: NUMBER, str: TEXT}


@dataclass(frozen=True)
class FieldSpec:
    """One field of a fact type, as rules see it."""

    name: str
    kind: str                            # yes/no, number, whole number, text, one of
    meaning: str
    unit: str | None = None
    values: tuple[str, ...] = ()         # a `one of` field's values
    values_from: str | None = None       # a text field whose values the rule files define (lab kinds, value sets)
    lab: str | None = None               # the lab kind whose result the field holds (facts.yaml bounds it)
    may_be_unknown: bool = False         # None is a value: the field may be left out of the fact
    default: Any = None                  # what the fact holds when nothing sets it (None: unknown)

    @property
    def numeric(self) -> bool:
        return self.kind in (NUMBER, WHOLE_NUMBER)

    def accepts(self, value: Any) -> bool:
        """Whether `value`, written in a rule file, is of this field's type."""
        if self.kind == YES_NO:
            return isinstance(value, bool)
        if self.numeric:
            return isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind == ONE_OF:
            return value in self.values
        return isinstance(value, str)

    def expects(self) -> str:
        """What a value of this field is, in words: "true or false", "a number in g/L", "one of: a, b"."""
        if self.kind == YES_NO:
            return "true or false (no quotes)"
        if self.kind == ONE_OF:
            return f"one of: {', '.join(self.values)}"
        if self.numeric:
            unit = f" in {self.unit}" if self.unit else ""
            return f"a {self.kind}{unit}, a $parameter or an =expression"
        return f"a name of {self.values_from}" if self.values_from else "text"


@dataclass(frozen=True)
class FactSpec:
    """One fact type: how many a request has, what one stands for, and its fields."""

    name: str
    count: str
    meaning: str
    fields: dict[str, FieldSpec]


@cache
def catalogue() -> dict[str, FactSpec]:
    """Every fact type by name, its fields in the order the model declares them."""
    return {name: FactSpec(name, kind.count, kind.meaning, _fields(kind.model)) for name, kind in FACT_TYPES.items()}


def field_spec(fact_type: str, name: str) -> FieldSpec | None:
    """The field `name` of `fact_type`, or None when the fact type has no such field."""
    return catalogue()[fact_type].fields.get(name)


def as_json() -> dict[str, Any]:
    """The catalogue as plain data (`cds rules facts --format json`)."""
    return {spec.name: {"count": spec.count, "meaning": spec.meaning, "fields": {
        name: {key: value for key, value in {
            "type": field.kind, "unit": field.unit, "values": list(field.values) or None,
            "values_from": field.values_from, "may_be_unknown": field.may_be_unknown or None,
            "meaning": field.meaning}.items() if value is not None}
        for name, field in spec.fields.items()}} for spec in catalogue().values()}


def _fields(model: type) -> dict[str, FieldSpec]:
    hints = get_type_hints(model)
    return {item.name: _field(item.name, hints[item.name], item.metadata, item.default) for item in fields(model)}


def _field(name: str, hint: Any, metadata: Any, default: Any) -> FieldSpec:
    optional = get_origin(hint) in (Union, UnionType) and NoneType in get_args(hint)
    if optional:
        hint = next(arg for arg in get_args(hint) if arg is not NoneType)
    literal = get_origin(hint) is Literal
    return FieldSpec(name, ONE_OF if literal else _KINDS[hint], metadata["meaning"], metadata["unit"],
                     get_args(hint) if literal else (), metadata["values_from"], metadata["lab"], optional,
                     None if default is MISSING else default)
