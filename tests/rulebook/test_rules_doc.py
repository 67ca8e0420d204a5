"""docs/rules.md and the rule-pack schema agree: every key the doc's examples write is one the schema
accepts there, and every key the schema defines is documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from cds import PROJECT_ROOT
from cds.rulebook.factschema import fact_defs

DOC = (PROJECT_ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
SCHEMA = json.loads((PROJECT_ROOT / "rules" / "schema" / "rule-pack.schema.json").read_text(encoding="utf-8"))
RULES = {"type": "array", "items": {"$ref": "#/$defs/rule"}}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _object_branches(node: dict[str, Any], data: Any) -> Iterator[dict[str, Any]]:
    """The object schemas `data` may match (through $ref, allOf, oneOf, anyOf, and if/then when `if` holds)."""
    node = _resolve(node)
    if node.get("type") == "object" or "properties" in node or "additionalProperties" in node:
        yield node
    if "if" in node and Draft202012Validator(node["if"]).is_valid(data):
        yield from _object_branches(node["then"], data)
    for combinator in ("allOf", "oneOf", "anyOf"):
        for branch in node.get(combinator, []):
            yield from _object_branches(branch, data)


def _unknown_keys(data: Any, node: dict[str, Any], path: str) -> Iterator[str]:
    """Keys in `data` that the schema `node` does not accept where they are written."""
    node = _resolve(node)
    if isinstance(data, list):
        items = node.get("items") or next((b["items"] for b in node.get("oneOf", []) if "items" in b), None)
        for index, item in enumerate(data):
            if items is not None:
                yield from _unknown_keys(item, items, f"{path}/{index}")
    elif isinstance(data, dict):
        branches = list(_object_branches(node, data))
        if all("properties" not in b and "additionalProperties" not in b for b in branches):
            return   # an object of any keys: a branch beside it (if/then) says which
        for key, value in data.items():
            known = [b["properties"][key] for b in branches if key in b.get("properties", {})]
            extra = [b["additionalProperties"] for b in branches if isinstance(b.get("additionalProperties"), dict)]
            if not known and not extra:
                yield f"{path}/{key}"
            for schema in known or extra:
                yield from _unknown_keys(value, schema, f"{path}/{key}")


def _doc_yaml_blocks() -> list[Any]:
    blocks = re.finditer(r"^( *)```yaml\n(.*?)^\1```", DOC, re.M | re.S)
    return [yaml.safe_load("\n".join(line[len(m[1]):] for line in m[2].splitlines())) for m in blocks]


def _schema_for(block: Any) -> dict[str, Any]:
    """The schema a documented example stands for: a pack, a rule (or part of one), rules or conditions."""
    if isinstance(block, dict):
        return SCHEMA if "pack" in block else {"$ref": "#/$defs/rule"}
    return RULES if "id" in block[0] else {"$ref": "#/$defs/conditions"}


def _schema_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        yield from node.get("properties", {})
        for value in node.values():
            yield from _schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_keys(value)


def test_every_key_the_doc_writes_is_one_the_schema_accepts():
    blocks = _doc_yaml_blocks()
    assert {"pack", "card"} <= {key for block in blocks if isinstance(block, dict) for key in block}
    unknown = [key for block in blocks for key in _unknown_keys(block, _schema_for(block), "")]
    assert unknown == []


def test_every_key_the_schema_defines_is_documented():
    def documented(key: str) -> bool:  # as `key`, `key: ...` or a YAML key
        return bool(re.search(rf"`{key}[`:]|^\s*(- )?{key}:|[{{ ,]{key}:", DOC, re.M))

    written = {**SCHEMA, "$defs": {name: part for name, part in SCHEMA["$defs"].items() if name not in fact_defs()}}
    undocumented = sorted(key for key in set(_schema_keys(written)) if not documented(key))   # fact fields: facts.md
    assert undocumented == []


def test_the_parts_replace_draft_may_omit_are_the_schemas():
    medication = SCHEMA["$defs"]["medication"]
    [sentence] = re.findall(r"In `replace_draft`, every part \(([^)]*)\) may be\s+left out", DOC)
    assert set(re.findall(r"`(\w+)`", sentence)) == set(medication["properties"])
    assert "required" not in medication and medication["minProperties"] == 1
