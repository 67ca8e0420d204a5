"""One fact catalogue (cds/facts/model.py) is the source of docs/facts.md, of `cds rules facts` and of the
rule-pack schema's fact fields; the schema, as an editor reads it, completes every fact's fields and values."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from cds import PROJECT_ROOT
from cds.cli import app
from cds.facts.catalogue import catalogue
from cds.facts.model import FACT_TYPES
from cds.rulebook.factschema import SCHEMA_FILE, updated

runner = CliRunner()
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_every_field_of_every_fact_model_is_in_the_catalogue_with_a_meaning():
    for name, fact_type in FACT_TYPES.items():
        specs = catalogue()[name].fields
        assert list(specs) == [field.name for field in fields(fact_type.model)]
        assert all(spec.meaning and spec.kind for spec in specs.values())
    assert catalogue()["draft_order"].fields["route"].values == ("im", "sc", "iv", "oral", "nasal", "unknown")
    assert catalogue()["patient"].fields["hb"].unit == "g/L"


def test_docs_fact_reference_is_what_the_catalogue_prints():
    result = runner.invoke(app, ["rules", "facts", "--format", "markdown"])
    assert result.exit_code == 0
    assert (PROJECT_ROOT / "docs" / "facts.md").read_text(encoding="utf-8") == result.output, \
        "docs/facts.md is out of date: run `cds rules facts --format markdown > docs/facts.md`"
    for spec in catalogue().values():
        assert all(f"| `{name}` |" in result.output for name in spec.fields)


def test_cds_rules_facts_lists_every_type_and_field_as_json_and_text():
    listed = json.loads(runner.invoke(app, ["rules", "facts", "--format", "json"]).output)
    assert list(listed) == list(FACT_TYPES)
    for name, spec in catalogue().items():
        assert list(listed[name]["fields"]) == list(spec.fields)
    assert listed["draft_order"]["fields"]["route"]["values"] == ["im", "sc", "iv", "oral", "nasal", "unknown"]
    assert listed["lab"]["fields"]["kind"]["values_from"] == "facts.yaml labs"
    assert listed["patient"]["fields"]["hb"] == {"type": "number", "unit": "g/L", "may_be_unknown": True,
                                                 "meaning": "the newest Hb in the look-back window"}
    text = runner.invoke(app, ["rules", "facts", "lab"]).output
    assert text.startswith("lab (one per lab kind): ") and "days_ago      number" in text and "patient" not in text
    unknown = runner.invoke(app, ["rules", "facts", "labs"])
    assert unknown.exit_code == 2 and "did you mean 'lab'?" in unknown.output


def test_the_committed_schema_has_the_catalogues_fact_part():
    assert updated(SCHEMA) == SCHEMA, "run `python -m cds.rulebook.factschema` to write the schema's fact part anew"


def _document(fact_type: str, key: str = "fact") -> dict[str, Any]:
    """A pack an informaticist is typing: a condition on `fact_type` with an empty `where`, and an inline
    example with an empty fact of that type."""
    return {"pack": "demo", "version": "1", "rules": [{
        "id": "demo.rule", "title": "t", "indicator": "info", "rationale": "r",
        "card": {"summary": "s", "detail": "d"},
        "when": [{key: fact_type, "where": {}}],
        "tests": [{"facts": {fact_type: {}}, "expect": "fire"}],
    }]}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = {**SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]],
                  **{key: value for key, value in schema.items() if key != "$ref"}}
    return schema


def _applying(schema: dict[str, Any], instance: Any) -> list[dict[str, Any]]:
    """The subschemas an editor applies to `instance`: through $ref and allOf, the branches of oneOf/anyOf,
    and `then` where `if` holds."""
    schema = _resolve(schema)
    found = [schema]
    if "if" in schema and Draft202012Validator(schema["if"]).is_valid(instance):
        found += _applying(schema["then"], instance)
    for combinator in ("allOf", "oneOf", "anyOf"):
        for branch in schema.get(combinator, []):
            found += _applying(branch, instance)
    return found


def _offered(document: dict[str, Any], path: list[str | int]) -> dict[str, dict[str, Any]]:
    """What an editor completes at `path`: each property name, with its schema (merged across branches)."""
    schemas, instance = [SCHEMA], document
    for step in path:
        applying = [s for schema in schemas for s in _applying(schema, instance)]
        key = "items" if isinstance(step, int) else "properties"
        schemas = [s[key] if isinstance(step, int) else s[key][step] for s in applying
                   if (key in s if isinstance(step, int) else step in s.get("properties", {}))]
        instance = instance[step]
    offered: dict[str, dict[str, Any]] = {}
    for applying in (s for schema in schemas for s in _applying(schema, instance)):
        for name, part in applying.get("properties", {}).items():
            offered.setdefault(name, {}).update(_resolve(part))
    return offered


def _enum(schema: dict[str, Any]) -> list[Any]:
    """The values an editor offers for a property (through the value, list and operator forms)."""
    return [value for part in _applying(schema, None) for value in part.get("enum", [])]


def test_the_schema_completes_each_facts_fields_and_values_in_a_where():
    for name, spec in catalogue().items():
        for key in ("fact", "absent"):
            offered = _offered(_document(name, key), ["rules", 0, "when", 0, "where"])
            assert set(offered) == {"any", *spec.fields}, (name, key)
            for field in spec.fields.values():
                assert offered[field.name]["description"].startswith(field.meaning)
                if field.values:
                    assert set(_enum(offered[field.name])) == set(field.values), field.name
    where = _offered(_document("draft_order"), ["rules", 0, "when", 0, "where"])
    assert set(_enum(where["route"])) == {"im", "sc", "iv", "oral", "nasal", "unknown"}


def test_the_schema_completes_each_facts_fields_in_an_inline_example():
    for name, spec in catalogue().items():
        offered = _offered(_document(name), ["rules", 0, "tests", 0, "facts", name])
        assert set(offered) == set(spec.fields) - {"id"}, name
    assert set(_offered(_document("lab"), ["rules", 0, "tests", 0, "facts"])) == set(FACT_TYPES)


def test_the_schema_flags_a_field_the_fact_does_not_have_and_a_value_of_the_wrong_type():
    validator = Draft202012Validator(SCHEMA)
    document = _document("patient")
    assert list(validator.iter_errors(document)) == []
    document["rules"][0]["when"][0]["where"] = {"malabsorption_cause": "yes"}
    assert list(validator.iter_errors(document))
    document["rules"][0]["when"][0]["where"] = {"malabsorption": True}
    assert list(validator.iter_errors(document))
    document["rules"][0]["when"][0]["where"] = {"malabsorption_cause": True, "hb": {"lt": "$threshold"}}
    assert list(validator.iter_errors(document)) == []
