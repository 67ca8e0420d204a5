"""Load every file under rules/ into a Rulebook, or fail with located, explained errors."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from cds import BUNDLED_RULES
from cds.rulebook.checks import check_pack, check_services, check_units, closest
from cds.rulebook.conditions import parse_conditions
from cds.rulebook.model import (
    HOOKS,
    Escalation,
    LoadError,
    Pack,
    Rule,
    Rulebook,
    RulebookError,
    RuleTest,
    Service,
)
from cds.rulebook.yamlerrors import syntax_error
from cds.rulebook.yamlsource import YamlDocument, read_yaml

SCHEMA_DIR = BUNDLED_RULES / "schema"
PACK_DIR = "packs"


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{schema_name}.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def load_rulebook(directory: Path | str) -> Rulebook:
    """Read and validate `directory`; raises RulebookError listing every problem found."""
    directory = Path(directory).resolve()
    errors: list[LoadError] = []
    services_doc = _load(directory / "services.yaml", "services", errors)
    facts_doc = _load(directory / "facts.yaml", "facts", errors)
    if facts_doc is not None:
        errors.extend(check_units(facts_doc))
    valuesets_doc = _load(directory / "valuesets.yaml", "valuesets", errors)
    values = _data_values(facts_doc, valuesets_doc)
    pack_files = sorted(path for path in (directory / PACK_DIR).glob("*.yaml") if not path.name.startswith("."))
    if not pack_files:
        errors.append(LoadError(str(directory / PACK_DIR), 1, "no rule packs (*.yaml) found"))
    packs: dict[str, Pack] = {}
    broken: set[str] = set()
    for path in pack_files:
        document = _load(path, "rule-pack", errors)
        if document is None:
            broken.add(path.stem)
            continue
        pack = _build_pack(document)
        pack_errors = check_pack(document, pack, values)
        errors.extend(pack_errors)
        if pack_errors:
            broken.add(pack.name)
        else:
            if pack.name in packs:
                errors.append(LoadError(str(path), 1, f"pack '{pack.name}' is defined twice"))
            packs[pack.name] = pack
    errors.extend(_duplicate_rule_ids(packs))
    if services_doc is not None:
        known_reasons = set(services_doc.data["override_reasons"]["codes"])
        errors.extend(check_services(services_doc, set(packs) | broken, known_reasons, list(packs.values())))
    if errors or services_doc is None or facts_doc is None or valuesets_doc is None:
        raise RulebookError(errors)
    services = services_doc.data
    return Rulebook(
        warnings=tuple(_warnings(packs, services_doc)),
        directory=directory,
        packs=packs,
        services={s["id"]: _build_service(s) for s in services["services"]},
        prefetch=dict(services["prefetch"]),
        card_source_label=services["card_source_label"],
        usage_requirements=services.get("usage_requirements", "").strip(),
        override_reasons=services["override_reasons"],
        facts_config=facts_doc.data,
        valuesets=valuesets_doc.data,
        digest=_digest([directory / "services.yaml", directory / "facts.yaml",
                        directory / "valuesets.yaml", *pack_files]),
    )


def _warnings(packs: dict[str, Pack], services: YamlDocument) -> list[LoadError]:
    """What loads but is probably not meant: packs no service runs, rules without examples, ..."""
    used = {name for service in services.data["services"] for name in service["packs"]}
    warnings = [LoadError(pack.file, 1, f"pack '{name}' is run by no service", hint="add it to services.yaml")
                for name, pack in packs.items() if name not in used]
    warnings += [LoadError(pack.file, 1, f"file name does not match 'pack: {name}'", hint=f"name it {name}.yaml")
                 for name, pack in packs.items() if Path(pack.file).stem != name]
    warnings += [LoadError(rule.file, rule.line, "rule has no tests", rule.id,
                           "add examples that fire and stay quiet under 'tests:'")
                 for pack in packs.values() for rule in pack.rules if not rule.tests]
    return warnings


def _data_values(facts: YamlDocument | None, valuesets: YamlDocument | None) -> dict[tuple[str, str], set[str]]:
    """The values fact fields defined by the data files may take (lab kinds, value set names)."""
    values = {}
    if facts is not None:
        values[("lab", "kind")] = values[("lab_unit_problem", "kind")] = set(facts.data["labs"])
    if valuesets is not None:
        values[("finding", "valueset")] = set(valuesets.data["valuesets"])
    return values


def _load(path: Path, schema_name: str, errors: list[LoadError]) -> YamlDocument | None:
    """Parse and schema-validate one file; append errors and return None if it is unusable."""
    if not path.is_file():
        errors.append(LoadError(str(path), 1, "file is missing"))
        return None
    try:
        document = read_yaml(path)
    except yaml.YAMLError as error:
        errors.append(syntax_error(path, error))
        return None
    schema_errors = sorted(_validator(schema_name).iter_errors(document.data),
                           key=lambda e: list(map(str, e.absolute_path)))
    for error in schema_errors:
        errors.append(_schema_error(document, error))
    return None if schema_errors else document


def _schema_error(document: YamlDocument, error: Any) -> LoadError:
    while error.context:  # oneOf/anyOf: the deepest error is the one about what was written
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator == "additionalProperties"))
    pointer = tuple(error.absolute_path)
    rule_id = None
    if len(pointer) >= 2 and pointer[0] == "rules" and isinstance(document.data, dict):
        rules = document.data.get("rules") or []
        if isinstance(pointer[1], int) and pointer[1] < len(rules) and isinstance(rules[pointer[1]], dict):
            rule_id = rules[pointer[1]].get("id")
    location = "/".join(map(str, pointer)) or "(top level)"
    hint = None
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        unexpected = [key for key in error.instance if key not in known]
        if unexpected:  # point at the misspelt key itself
            pointer = (*pointer, unexpected[0])
            hint = closest(str(unexpected[0]), known) or f"known here: {', '.join(sorted(known))}"
    elif error.validator == "oneOf" and pointer and "when" in pointer:
        hint = "a condition is either {fact: TYPE, where: ...} or {absent: TYPE, where: ...}"
    elif error.validator == "type" and isinstance(error.instance, date):
        hint = 'quote dates written as text, e.g. version: "2026-11-25"'
    return LoadError(str(document.path), document.line_of(pointer),
                     f"{location}: {_short(error.message)}", rule_id, hint)


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def _duplicate_rule_ids(packs: dict[str, Pack]) -> list[LoadError]:
    seen: dict[str, Rule] = {}
    errors = []
    for rule in (rule for pack in packs.values() for rule in pack.rules):
        if rule.id in seen:
            errors.append(LoadError(rule.file, rule.line, "rule id is used twice", rule.id,
                                    f"first defined in {seen[rule.id].file}:{seen[rule.id].line}"))
        seen.setdefault(rule.id, rule)
    return errors


def _build_pack(document: YamlDocument) -> Pack:
    data = document.data
    parameters = {name: (spec["value"] if isinstance(spec, dict) else spec)
                  for name, spec in (data.get("parameters") or {}).items()}
    version = pack_version(data)
    rules = tuple(_build_rule(document, index, version) for index in range(len(data["rules"])))
    return Pack(data["pack"], version, data.get("title", data["pack"]), parameters, rules, str(document.path))


def pack_version(data: dict[str, Any]) -> str:
    """The declared version plus a digest of the pack's content, e.g. `2026-11-30+3fa2c1d` (`1.2+b7.3fa2c1d`
    when the declared one has a `+`): any change to what the pack says gives a new version (comments and
    layout do not), the same in every process."""
    content = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()
    declared = str(data["version"])
    return f"{declared}{'.' if '+' in declared else '+'}{hashlib.sha256(content).hexdigest()[:7]}"


def _build_rule(document: YamlDocument, index: int, version: str) -> Rule:
    data, base = document.data, ("rules", index)
    raw = data["rules"][index]
    return Rule(
        id=raw["id"],
        title=raw["title"],
        indicator=raw["indicator"],
        hooks=tuple(raw.get("hooks") or HOOKS),
        priority=raw.get("priority", 0),
        when=parse_conditions(document, (*base, "when")),
        escalate=tuple(Escalation(e["indicator"], parse_conditions(document, (*base, "escalate", i, "when")))
                       for i, e in enumerate(raw.get("escalate", []))),
        card=raw["card"],
        rationale=raw["rationale"].strip(),
        references=tuple(raw.get("references", [])),
        tests=tuple(RuleTest(**test, line=document.line_of((*base, "tests", i)))
                    for i, test in enumerate(raw.get("tests", []))),
        pack=data["pack"],
        pack_version=version,
        file=str(document.path),
        line=document.line_of(base),
    )


def _build_service(raw: dict[str, Any]) -> Service:
    return Service(raw["id"], raw["hook"], raw["title"], raw["description"].strip(), tuple(raw["packs"]))


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
