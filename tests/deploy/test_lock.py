"""requirements.lock (what the image installs, made by `make lock`) agrees with pyproject.toml: every
runtime dependency (and the postgres extra) pinned to a version it allows, every pin hashed, and no
pin left over from a dependency pyproject.toml no longer has."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cds import PROJECT_ROOT

PROJECT = "cobalt-cds (pyproject.toml)"


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: int
    via: frozenset[str]


def _pins() -> dict[str, Pin]:
    """The lock's pins by canonical name, with their hash count and what needs them ("# via" lines)."""
    pins: dict[str, Pin] = {}
    for block in re.split(r"\n(?=\S)", (PROJECT_ROOT / "requirements.lock").read_text()):
        if block.startswith("#"):
            continue
        requirement = Requirement(block.split("\\\n")[0].strip())
        first, *more = block.partition("# via")[2].splitlines()
        names = [first.strip()] + [line.strip(" #") for line in more]
        via = {name if name == PROJECT else canonicalize_name(name) for name in names if name}
        pins[canonicalize_name(requirement.name)] = Pin(requirement, block.count("--hash=sha256:"), frozenset(via))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["postgres"]]


def _version(pin: Pin) -> str:
    [specifier] = pin.requirement.specifier
    assert specifier.operator == "==", pin.requirement
    return specifier.version


def test_every_declared_dependency_is_pinned_to_a_version_it_allows():
    pins = _pins()
    for requirement in _declared():
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(_version(pin), prereleases=True), \
            f"{requirement} but the lock pins {pin.requirement}: run make lock"
        assert requirement.extras <= pin.requirement.extras, f"{requirement}: the lock has {pin.requirement}"


def test_every_pin_is_hashed_and_needed():
    pins, declared = _pins(), {canonicalize_name(r.name) for r in _declared()}
    assert len(pins) > len(declared)
    direct = {name for name, pin in pins.items() if PROJECT in pin.via}
    assert direct == declared, "the lock's direct dependencies differ from pyproject.toml's: run make lock"
    for name, pin in pins.items():
        assert pin.hashes >= 1, f"{name} has no hash"
        assert pin.via and pin.via <= set(pins) | {PROJECT}, f"{name} is needed by {set(pin.via)}: run make lock"
