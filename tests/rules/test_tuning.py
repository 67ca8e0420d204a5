"""Every clinical threshold lives in the rule files only.

Each number of facts.yaml's `labs`, `status` and `regimen` tables, and each pack parameter, is tuned
in a copy of the rules; the fixture requests (rule examples, the correct-prescription panel, the
dangerous scenarios) are run in-process before and after, at one fixed time. Tuning must change the
facts or the cards of at least one: a threshold the code also kept would change nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds import BUNDLED_RULES, PROJECT_ROOT
from cds.fixtures import render_fixture
from cds.generation import LoadedRules, load
from cds.hooks import parse_request
from cds.pipeline import run_offline

NOW = datetime.now(UTC).replace(microsecond=0)
CORPUS = sorted(path for folder in ("requests", "panel", "rev3")
                for path in (PROJECT_ROOT / "fhir_fixtures" / folder).glob("*.json"))
FACT_TABLES = ("labs", "status", "regimen")
FACTORS = (2.0, 0.5, 10.0, 0.1)   # tried in turn until one changes something


def _numbers(data: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(data, dict):
        return [found for key, value in data.items() for found in _numbers(value, (*path, key))]
    return [path] if isinstance(data, int | float) and not isinstance(data, bool) else []


def _facts_yaml() -> dict[str, Any]:
    return yaml.safe_load((BUNDLED_RULES / "facts.yaml").read_text(encoding="utf-8"))


def _pack_parameters() -> list[tuple[str, str]]:
    found = []
    for pack in sorted((BUNDLED_RULES / "packs").glob("*.yaml")):
        data = yaml.safe_load(pack.read_text(encoding="utf-8"))
        found += [(pack.name, name) for name, spec in data.get("parameters", {}).items()
                  if not isinstance(spec["value"], bool)]
    return found


FACT_VALUES = [path for table in FACT_TABLES for path in _numbers(_facts_yaml()[table], (table,))]


def _outcome(rules: LoadedRules, fixture: Path) -> Any:
    """A fixture's facts and cards (topic, indicator, text, suggestions)."""
    request = render_fixture(fixture, NOW)
    service = rules.rulebook.service_for_hook(request["hook"])
    hook_request, context = parse_request(request, service.hook)
    outcome = run_offline(rules, service, hook_request, context, NOW)
    cards = [(c["source"]["topic"]["code"], c["indicator"], c["summary"], c["detail"], c.get("suggestions"))
             for c in outcome.response["cards"]]
    return dataclasses.asdict(outcome.facts), cards


@pytest.fixture(scope="module")
def baseline() -> dict[Path, Any]:
    rules = load(BUNDLED_RULES)
    return {fixture: _outcome(rules, fixture) for fixture in CORPUS}


def _changes_something(baseline: dict[Path, Any], tmp_path: Path, file: str,
                       change: Callable[[dict[str, Any], float], None]) -> bool:
    """Whether some factor, applied by `change` to `file` in a copy of the rules, changes the facts or
    cards of some fixture."""
    for factor in FACTORS:
        copy = tmp_path / f"rules-{factor}"
        shutil.copytree(BUNDLED_RULES, copy)
        data = yaml.safe_load((copy / file).read_text(encoding="utf-8"))
        change(data, factor)
        (copy / file).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        rules = load(copy)
        if any(_outcome(rules, fixture) != seen for fixture, seen in baseline.items()):
            return True
    return False


def _scale(value: float, factor: float) -> float:
    scaled = value * factor
    return round(scaled) if isinstance(value, int) and scaled >= 1 else scaled


@pytest.mark.parametrize("path", FACT_VALUES, ids=[".".join(path) for path in FACT_VALUES])
def test_tuning_a_facts_yaml_value_changes_facts_or_cards(baseline, tmp_path, path):
    def change(data: dict[str, Any], factor: float) -> None:
        *parents, name = path
        table = data
        for key in parents:
            table = table[key]
        table[name] = _scale(table[name], factor)

    assert _changes_something(baseline, tmp_path, "facts.yaml", change), ".".join(path)


@pytest.mark.parametrize(("pack", "name"), _pack_parameters(), ids=[name for _, name in _pack_parameters()])
def test_tuning_a_pack_parameter_changes_cards(baseline, tmp_path, pack, name):
    def change(data: dict[str, Any], factor: float) -> None:
        spec = data["parameters"][name]
        spec["value"] = _scale(spec["value"], factor)

    assert _changes_something(baseline, tmp_path, f"packs/{pack}", change), name
