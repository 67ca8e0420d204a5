"""Card text that stays true: a quantity written in a rule's text (summary, detail, notes, suggestion labels,
rationale) that equals a value the rule uses ($parameter, facts.yaml value) in that value's unit must be
written as the value's placeholder, or the text goes stale when the value is tuned or a site profile sets it.
"1 mg" equals 1,000 mcg: quantities are compared as UCUM quantities. A figure in double quotes is a quotation of
a source (the BNF's "1 mg"), which no tuning changes: it is not read."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from cds.facts.units import Units
from cds.rulebook.values import PLACEHOLDER

_QUOTED = re.compile(r'"[^"\n]*"')
_QUANTITY = re.compile(r"(?<![\w.,$/-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?([A-Za-zµμ]+(?:/[A-Za-z]+)?)\b")
_TIME_WORDS = {"day": "d", "days": "d", "week": "wk", "weeks": "wk", "month": "mo", "months": "mo",
               "year": "a", "years": "a", "hour": "h", "hours": "h"}


def stale_literals(text: str, values: dict[str, tuple[float, str]],
                   units: Units) -> Iterator[tuple[str, list[str]]]:
    """(the quantity as written, the names of the values it equals) for each quantity in `text` that equals some
    of `values` (name → value and its UCUM unit). Placeholders and quotations are not read."""
    for match in _QUANTITY.finditer(_QUOTED.sub(" ", PLACEHOLDER.sub(" ", text))):
        number, written = float(match.group(1).replace(",", "")), match.group(2)
        unit = _TIME_WORDS.get(written.lower()) or units.ucum(None, None, written)
        converted = {name: Units.convert(number, unit, value_unit) if unit else None
                     for name, (_, value_unit) in values.items()}
        names = [name for name, (value, _) in values.items()
                 if converted[name] is not None and math.isclose(converted[name], value, rel_tol=1e-9)]
        if names:
            yield match.group(0), names
