"""Load every file under rules/ into a Rulebook, or fail with located, explained errors."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cds import BUNDLED_RULES
from cds.facts.model import LABS, VALUESETS
from cds.rulebook.checks import check_pack, check_regimens, check_services, check_units, check_yields, closest
from cds.rulebook.conditions import parse_conditions
from cds.rulebook.examples import check_examples
from cds.rulebook.model import (
    HOOKS,
    Case,
    LoadError,
    Pack,
    Rule,
    Rulebook,
    RulebookError,
    RuleTest,
    Service,
)
from cds.rulebook.profiles import DEFAULT_PROFILE, Profile, build_profile, check_profile, known_profiles, profile_path
from cds.rulebook.regimens import Regimen, load_products, load_regimens
from cds.rulebook.schemaerrors import schema_error
from cds.rulebook.values import PLACEHOLDER, RuleValues
from cds.rulebook.versions import pack_version
from cds.rulebook.yamlerrors import syntax_error
from cds.rulebook.yamlsource import YamlDocument, read_yaml

SCHEMA_DIR = BUNDLED_RULES / "schema"
_CONDITION_VALUE = re.compile(r"\$([a-z_][a-z0-9_.]*)")
PACK_DIR = "packs"


@cache
def _schemas() -> Registry:
    """Every shipped schema, by its $id, so one may refer to another (a profile's regimens)."""
    schemas = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMA_DIR.glob("*.schema.json"))]
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas)


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{schema_name}.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=_schemas())


@dataclass(frozen=True)
class _Documents:
    """The files of a rules directory, each parsed and schema-valid."""

    services: YamlDocument
    facts: YamlDocument
    valuesets: YamlDocument
    regimens: YamlDocument
    profile: YamlDocument
    packs: dict[Path, YamlDocument | None]   # None: the file has errors (reported)


def load_rulebook(directory: Path | str, profile: str = DEFAULT_PROFILE, allow_untested: bool = False) -> Rulebook:
    """Read and validate `directory` under the site profile `profile`; raises RulebookError listing
    every problem found. `allow_untested`: a rule without an example that fires and one that stays quiet
    loads, with a warning (a draft)."""
    directory = Path(directory).resolve()
    errors: list[LoadError] = []
    documents = _read_documents(directory, profile, errors)
    site = build_profile(documents.profile)
    errors.extend(check_profile(documents.profile, site, {doc.data["pack"]: _parameters(doc.data) for doc in
                                                          documents.packs.values() if doc is not None},
                                documents.facts.data, documents.regimens.data["regimens"], profile))
    facts = site.facts_config(documents.facts.data)
    regimens_data = site.regimens_data(documents.regimens.data)
    errors.extend(check_regimens(documents.regimens, regimens_data))
    if errors:
        raise RulebookError(errors)
    regimens = load_regimens(regimens_data)
    values = _data_values(documents.facts, documents.valuesets)
    packs, broken = _build_packs(documents, site, facts, regimens, set(regimens_data["products"]), values, errors)
    known_reasons = set(documents.services.data["override_reasons"]["codes"])
    errors.extend(check_services(documents.services, set(packs) | broken, known_reasons, list(packs.values())))
    services = documents.services.data
    example_errors, untested = check_examples((rule for pack in packs.values() for rule in pack.rules), directory,
                                              {service["id"] for service in services["services"]}, values,
                                              allow_untested)
    errors.extend(example_errors)
    if errors:
        raise RulebookError(errors)
    return Rulebook(
        warnings=(*_warnings(packs, documents.services), *untested),
        directory=directory,
        packs=packs,
        services={s["id"]: _build_service(s) for s in services["services"]},
        prefetch=dict(services["prefetch"]),
        card_source_label=services["card_source_label"],
        usage_requirements=services.get("usage_requirements", "").strip(),
        override_reasons=services["override_reasons"],
        facts_config=facts,
        valuesets=documents.valuesets.data,
        regimens=regimens,
        products=load_products(regimens_data),
        open_supply_days=regimens_data["open_supply_days"],
        profile=site.name,
        profile_title=site.title,
        digest=_digest([directory / "services.yaml", directory / "facts.yaml", directory / "valuesets.yaml",
                        directory / "regimens.yaml", profile_path(directory, profile), *documents.packs]),
    )


def _read_documents(directory: Path, profile: str, errors: list[LoadError]) -> _Documents:
    """Parse and schema-check every file; raises RulebookError if one the others depend on has errors."""
    services = _load(directory / "services.yaml", "services", errors)
    facts = _load(directory / "facts.yaml", "facts", errors)
    if facts is not None:
        errors.extend(check_units(facts))
    valuesets = _load(directory / "valuesets.yaml", "valuesets", errors)
    regimens = _load(directory / "regimens.yaml", "regimens", errors)
    site = _load_profile(directory, profile, errors)
    pack_files = sorted(path for path in (directory / PACK_DIR).glob("*.yaml") if not path.name.startswith("."))
    if not pack_files:
        errors.append(LoadError(str(directory / PACK_DIR), 1, "no rule packs (*.yaml) found"))
    packs = {path: _load(path, "rule-pack", errors) for path in pack_files}
    if errors or services is None or facts is None or valuesets is None or regimens is None or site is None:
        raise RulebookError(errors)
    return _Documents(services, facts, valuesets, regimens, site, packs)


def _build_packs(documents: _Documents, site: Profile, facts: dict[str, Any], regimens: dict[str, Regimen],
                 products: set[str], values: dict[str, set[str]],
                 errors: list[LoadError]) -> tuple[dict[str, Pack], set[str]]:
    """The packs without errors, and the names of those with (their errors added to `errors`); `values`: what
    the data files define for fact fields."""
    days_per_month = facts["regimen"]["days_per_month"]
    regimen_texts = {name: regimen.text(regimens, days_per_month) for name, regimen in regimens.items()}
    packs: dict[str, Pack] = {}
    broken: set[str] = set()
    for path, document in documents.packs.items():
        if document is None:
            broken.add(path.stem)
            continue
        pack_values = RuleValues({**_parameters(document.data), **site.for_pack(document.data["pack"])}, facts,
                                 regimen_texts, _parameter_units(document.data))
        pack = _build_pack(document, site, pack_values)
        pack_errors = check_pack(document, pack, values, pack_values, regimens, products)
        errors.extend(pack_errors)
        if pack_errors:
            broken.add(pack.name)
        elif pack.name in packs:
            errors.append(LoadError(str(path), 1, f"pack '{pack.name}' is defined twice"))
        else:
            packs[pack.name] = pack
    errors.extend(_duplicate_rule_ids(packs))
    errors.extend(check_yields(list(packs.values())))
    return packs, broken


def _load_profile(directory: Path, name: str, errors: list[LoadError]) -> YamlDocument | None:
    path = profile_path(directory, name)
    if not path.is_file():
        known = known_profiles(directory)
        errors.append(LoadError(str(path), 1, f"no site profile '{name}'",
                                hint=closest(name, set(known)) or f"profiles: {', '.join(known) or 'none'}"))
        return None
    return _load(path, "profile", errors)


def _parameters(data: dict[str, Any]) -> dict[str, Any]:
    """A pack's parameters as written (a bare value, or {value: ...})."""
    return {name: (spec["value"] if isinstance(spec, dict) else spec)
            for name, spec in (data.get("parameters") or {}).items()}


def _parameter_units(data: dict[str, Any]) -> dict[str, str]:
    """The units a pack declares for its parameters ({value: 5000, unit: mcg})."""
    return {name: spec["unit"] for name, spec in (data.get("parameters") or {}).items()
            if isinstance(spec, dict) and "unit" in spec}


def _warnings(packs: dict[str, Pack], services: YamlDocument) -> list[LoadError]:
    """What loads but is probably not meant: packs no service runs, a file named unlike its pack."""
    used = {name for service in services.data["services"] for name in service["packs"]}
    warnings = [LoadError(pack.file, 1, f"pack '{name}' is run by no service", hint="add it to services.yaml")
                for name, pack in packs.items() if name not in used]
    warnings += [LoadError(pack.file, 1, f"file name does not match 'pack: {name}'", hint=f"name it {name}.yaml")
                 for name, pack in packs.items() if Path(pack.file).stem != name]
    return warnings


def _data_values(facts: YamlDocument, valuesets: YamlDocument) -> dict[str, set[str]]:
    """The values the data files define for fact fields (catalogue `values_from`): lab kinds, value set names."""
    return {LABS: set(facts.data["labs"]), VALUESETS: set(valuesets.data["valuesets"])}


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
        errors.append(schema_error(document, error))
    return None if schema_errors else document


def _duplicate_rule_ids(packs: dict[str, Pack]) -> list[LoadError]:
    seen: dict[str, Rule] = {}
    errors = []
    for rule in (rule for pack in packs.values() for rule in pack.rules):
        if rule.id in seen:
            errors.append(LoadError(rule.file, rule.line, "rule id is used twice", rule.id,
                                    f"first defined in {seen[rule.id].file}:{seen[rule.id].line}"))
        seen.setdefault(rule.id, rule)
    return errors


def _build_pack(document: YamlDocument, site: Profile, values: RuleValues) -> Pack:
    data = document.data
    version = str(pack_version(str(data["version"]), {"pack": data, "profile": site.for_pack(data["pack"])},
                               site.name))
    rules = tuple(_build_rule(document, index, version, values) for index in range(len(data["rules"])))
    return Pack(data["pack"], version, data.get("title", data["pack"]), values.conditions(), rules, str(document.path))


def _build_rule(document: YamlDocument, index: int, version: str, values: RuleValues) -> Rule:
    data, base = document.data, ("rules", index)
    raw = data["rules"][index]
    yields = raw.get("yields_to", ())
    return Rule(
        id=raw["id"],
        title=raw["title"],
        indicator=raw["indicator"],
        hooks=tuple(raw.get("hooks") or HOOKS),
        priority=raw.get("priority", 0),
        when=parse_conditions(document, (*base, "when")),
        cases=tuple(Case(c["indicator"], parse_conditions(document, (*base, "cases", i, "when")))
                    for i, c in enumerate(raw.get("cases", []))),
        card=_filled(raw["card"], values),
        rationale=values.fill(raw["rationale"].strip()),
        references=tuple(raw.get("references", [])),
        tests=tuple(RuleTest(**test, line=document.line_of((*base, "tests", i)))
                    for i, test in enumerate(raw.get("tests", []))),
        pack=data["pack"],
        pack_version=version,
        file=str(document.path),
        line=document.line_of(base),
        yields_to=(yields,) if isinstance(yields, str) else tuple(yields),
        values=_values_named(raw, values),
        mode=raw.get("mode", data.get("mode", "live")),
    )


def _values_named(raw: dict[str, Any], values: RuleValues) -> dict[str, Any]:
    """The values a rule names, written `$name` in its conditions and `{$name}` in its text."""
    text = json.dumps(raw, default=str)
    names = set(PLACEHOLDER.findall(text)) | set(_CONDITION_VALUE.findall(text))
    return {name: values.get(name) for name in sorted(names) if values.get(name) is not None}


def _filled(value: Any, values: RuleValues) -> Any:
    """The card as written, with every {$...} in its text replaced by the value it names, and a value
    written as "$name" alone (a suggested dose) by that value."""
    if isinstance(value, dict):
        return {key: _filled(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    if isinstance(value, str) and value.startswith("$") and values.get(value[1:]) is not None:
        return values.get(value[1:])
    return values.fill(value) if isinstance(value, str) else value


def _build_service(raw: dict[str, Any]) -> Service:
    return Service(raw["id"], raw["hook"], raw["title"], raw["description"].strip(), tuple(raw["packs"]),
                   raw.get("usage_requirements", "").strip())


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
