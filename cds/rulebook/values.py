"""The values rule text names with `{$...}`, filled in at load so card text stays true under every profile
and tuned value: `{$name}` a parameter of the rule's pack, `{$status.name}` and `{$regimen.name}` a
value of facts.yaml, `{$regimens.name}` a suggested regimen in words (rules/regimens.yaml)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cds.facts.display import format_number

PLACEHOLDER = re.compile(r"(?<!\{)\{\$([a-z_][a-z0-9_.]*)\}(?!\})")
_SECTIONS = ("status", "regimen", "regimens")


_UNIT_SUFFIXES = {"_mcg": "ug", "_days": "d", "_years": "a"}   # facts.yaml values say their unit in their name


@dataclass(frozen=True)
class RuleValues:
    parameters: dict[str, Any]           # the pack's, with the profile's values
    facts: dict[str, Any]                # facts.yaml, with the profile's values
    regimen_texts: dict[str, str]        # regimen name → its words
    units: dict[str, str] = field(default_factory=dict)   # a parameter → the unit its pack declares

    def get(self, name: str) -> Any:
        """The value `{$name}` stands for, or None when it names nothing."""
        section, _, key = name.partition(".")
        if not key:
            return self.parameters.get(name)
        if section == "regimens":
            return self.regimen_texts.get(key)
        return self.facts.get(section, {}).get(key) if section in _SECTIONS else None

    def conditions(self) -> dict[str, Any]:
        """What `$name` may stand for in a condition: the pack's parameters and facts.yaml's numbers."""
        return self.parameters | {f"{section}.{key}": value for section in ("status", "regimen")
                                  for key, value in self.facts.get(section, {}).items()}

    def unit(self, name: str) -> str | None:
        """The unit of a value: as its pack declares it, or for facts.yaml's as its name ends (_mcg, _days)."""
        if name in self.units:
            return self.units[name]
        return next((unit for suffix, unit in _UNIT_SUFFIXES.items() if "." in name and name.endswith(suffix)), None)

    def names(self) -> Iterator[str]:
        yield from self.parameters
        for section in ("status", "regimen"):
            yield from (f"{section}.{key}" for key in self.facts.get(section, {}))
        yield from (f"regimens.{key}" for key in self.regimen_texts)

    def fill(self, text: str) -> str:
        """`text` with every `{$...}` it names replaced by its value (numbers as card text writes them)."""
        return PLACEHOLDER.sub(lambda match: _shown(self.get(match.group(1)), match.group(0)), text)


def _shown(value: Any, written: str) -> str:
    if value is None:
        return written   # left for the checks to report
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value)
    return str(value)
