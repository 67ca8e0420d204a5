"""Site profiles (rules/profiles/NAME.yaml): the values a site sets without editing the packs.

A profile overrides named values only: pack parameters (`parameters: {pack: {name: value}}`), facts.yaml
thresholds (`facts: {status: {...}, regimen: {...}}`) and whole suggested regimens (`regimens:`). A
name the rulebook does not define is a load error at the profile's line, never silently ignored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds.rulebook.model import LoadError
from cds.rulebook.yamlsource import YamlDocument

PROFILE_DIR = "profiles"
DEFAULT_PROFILE = "uk"


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    file: str
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)   # pack → name → value
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)        # facts.yaml section → key → value
    regimens: dict[str, Any] = field(default_factory=dict)                # regimen name → its whole definition

    def for_pack(self, pack: str) -> dict[str, Any]:
        return self.parameters.get(pack, {})

    def facts_config(self, facts: dict[str, Any]) -> dict[str, Any]:
        merged = copy.deepcopy(facts)
        for section, values in self.facts.items():
            merged[section].update(values)
        return merged

    def regimens_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "regimens": {**data["regimens"], **self.regimens}}


def profile_path(directory: Path, name: str) -> Path:
    return directory / PROFILE_DIR / f"{name}.yaml"


def known_profiles(directory: Path) -> list[str]:
    return sorted(path.stem for path in (directory / PROFILE_DIR).glob("*.yaml") if not path.name.startswith("."))


def build_profile(document: YamlDocument) -> Profile:
    data = document.data
    return Profile(data["profile"], data.get("title", data["profile"]), str(document.path),
                   data.get("parameters") or {}, data.get("facts") or {}, data.get("regimens") or {})


def check_profile(document: YamlDocument, profile: Profile, pack_parameters: dict[str, dict[str, Any]],
                  facts: dict[str, Any], regimens: dict[str, Any], expected: str) -> list[LoadError]:
    """Every name the profile sets must exist, with a value of the same kind as the one it replaces."""
    errors: list[LoadError] = []

    def error(pointer: tuple, message: str, hint: str | None = None) -> None:
        errors.append(LoadError(profile.file, document.line_of(pointer), message, hint=hint))

    if profile.name != expected:
        error(("profile",), f"the file says 'profile: {profile.name}', not '{expected}'",
              f"name the file {profile.name}.yaml or the profile {expected}")
    for pack, values in profile.parameters.items():
        if pack not in pack_parameters:
            error(("parameters", pack), f"no pack '{pack}' to set parameters of",
                  f"packs: {', '.join(sorted(pack_parameters))}")
            continue
        for name, value in values.items():
            _check_value(error, ("parameters", pack, name), f"parameter '{name}' of pack '{pack}'",
                         pack_parameters[pack], name, value)
    for section, values in profile.facts.items():
        for name, value in values.items():
            _check_value(error, ("facts", section, name), f"facts.yaml '{section}.{name}'", facts.get(section, {}),
                         name, value)
    for name in profile.regimens:
        if name not in regimens:
            error(("regimens", name), f"no regimen '{name}' in regimens.yaml",
                  f"regimens: {', '.join(sorted(regimens))}")
    return errors


def _check_value(error: Any, pointer: tuple, what: str, known: dict[str, Any], name: str, value: Any) -> None:
    if name not in known:
        error(pointer, f"{what} does not exist", f"known: {', '.join(sorted(known)) or 'none'}")
    elif isinstance(known[name], bool) != isinstance(value, bool):
        error(pointer, f"{what} is {_kind(known[name])}, and the profile sets {_kind(value)}")


def _kind(value: Any) -> str:
    return "a yes/no value" if isinstance(value, bool) else "a number"
