"""Doses written only as text ("1000 mcg IM monthly"), read with the fixed grammar of the rule files.

facts.yaml says what a dose unit is (`unit_aliases`, `dose_units`), which schedule phrases there are
(`text_dose.schedules`) and the timing abbreviations (`timing_codes`); this module only applies them.
A number followed by a unit is a dose ("1000mg", "1 ampoule"), unless a "/" follows (a strength such
as "1000 mcg/mL" is not a dose). Nothing is guessed: text naming no dose, or two, is reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cds.facts.schedule import Frequency
from cds.facts.units import Units

_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class WrittenDose:
    value: float
    unit: str                            # as written: "mg", "ampoule"
    text: str                            # "1000mg"


@dataclass(frozen=True)
class TextReading:
    doses: tuple[WrittenDose, ...]       # every dose the text names, in order
    schedule: Frequency | None           # the first schedule phrase or timing code it names


class TextDoseGrammar:
    def __init__(self, facts_config: dict[str, Any], units: Units):
        words = [alias for alias, ucum in facts_config["unit_aliases"].items()
                 if Units.dimension(ucum) in ("mass", "volume")]
        words += [word for kind in facts_config["dose_units"].values() for word in kind if word.isalpha()
                  or " " in word]
        alternatives = "|".join(re.escape(word) + ("(?:e?s)?" if word.isalpha() and len(word) > 2 else "")
                                for word in sorted(set(words), key=len, reverse=True))
        self._dose = re.compile(rf"(?<![\w.,]){_NUMBER}\s*({alternatives})(?![\w/])(?!\s*/)", re.IGNORECASE)
        self._phrases = [(_phrase(row["phrase"]), row) for row in facts_config["text_dose"]["schedules"]]
        codes = "|".join(re.escape(code) for code in facts_config["timing_codes"])
        self._codes = re.compile(rf"\b({codes})\b")
        self._code_table = facts_config["timing_codes"]

    def read(self, text: str) -> TextReading:
        doses = tuple(WrittenDose(float(match.group(1).replace(",", "")), match.group(2).lower(), match.group(0))
                      for match in self._dose.finditer(text))
        return TextReading(doses, self._schedule(text))

    def _schedule(self, text: str) -> Frequency | None:
        for pattern, row in self._phrases:
            match = pattern.search(text)
            if match:
                number = float(match.group(1)) if match.groups() else None
                frequency, period = (_filled(row[key], number) for key in ("frequency", "period"))
                return Frequency(int(frequency), period, row["unit"])
        code = self._codes.search(text)
        if code:
            spec = self._code_table[code.group(1)]
            return Frequency(spec["frequency"], spec["period"], spec["unit"])
        return None


def _phrase(phrase: str) -> re.Pattern[str]:
    """A schedule phrase as a pattern: words separated by any space, {n} a number, whole words only."""
    parts = [r"(\d+(?:\.\d+)?)" if part == "{n}" else re.escape(part) for part in re.split(r"(\{n\})", phrase)]
    body = r"\s+".join("".join(parts).split(r"\ "))
    return re.compile(rf"(?<![\w]){body}(?![\w])", re.IGNORECASE)


def _filled(value: Any, number: float | None) -> float:
    return number if value == "n" and number is not None else float(value)
