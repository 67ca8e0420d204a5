"""The fact catalogue for people: rows for `cds rules facts` and the Markdown of docs/facts.md."""

from __future__ import annotations

from cds.facts.catalogue import FactSpec, FieldSpec, catalogue

HEADER = ("FIELD", "TYPE", "UNIT", "VALUES", "MEANING")
_MARKDOWN_TITLE = """# Fact reference

Every fact a rule can test, and every field, from the fact catalogue (`cds/facts/model.py`). This page is
written by `cds rules facts --format markdown > docs/facts.md`, and a test keeps it so; `cds rules facts`
prints the same in a terminal. A field that may be unknown is left out of the fact when the record does not
establish it: every test on it is false, except `ne` ("not known to be"; docs/rules.md, "Unknown is
unknown"). In an inline example (`facts:`), a field left out is unknown, or its default.
"""


def rows(spec: FactSpec) -> list[tuple[str, str, str, str, str]]:
    """One row per field: name, type, unit, allowed values, meaning."""
    return [(field.name, _kind(field), field.unit or "", _values(field), field.meaning)
            for field in spec.fields.values()]


def markdown() -> str:
    """docs/facts.md: a section per fact type, a table row per field."""
    parts = [_MARKDOWN_TITLE]
    for spec in catalogue().values():
        parts.append(f"## `{spec.name}` ({spec.count})\n\n{spec.meaning[0].upper()}{spec.meaning[1:]}.\n\n"
                     "| field | type | unit | values | meaning |\n|---|---|---|---|---|\n"
                     + "".join(f"| `{name}` | {kind} | {unit} | {values} | {meaning.replace('|', '∣')} |\n"
                               for name, kind, unit, values, meaning in rows(spec)))
    return "\n".join(parts)


def _kind(field: FieldSpec) -> str:
    return field.kind + (", may be unknown" if field.may_be_unknown else "")


def _values(field: FieldSpec) -> str:
    if field.values:
        return ", ".join(field.values)
    return f"a name of {field.values_from}" if field.values_from else ""
