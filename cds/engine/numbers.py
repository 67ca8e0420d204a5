"""The numbers the durable_rules C engine can read.

Its JSON reader rejects numbers written with an exponent, which Python writes for magnitudes of
1e16 and above or below 1e-4. In a fact such a value is absurd for a dose, a rate or a lab, so it is
clamped (the clamped value is on the same side of every clinical threshold); in a rule it is refused
when the rules are compiled.
"""

from __future__ import annotations

import math
from typing import Any

LARGEST = 1e15
SMALLEST = 1e-4


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def readable(value: Any) -> bool:
    """Whether the engine reads `value` as written (anything that is not a number is)."""
    return not is_number(value) or value == 0 or SMALLEST <= abs(value) < LARGEST


def clamped(value: Any) -> Any:
    """`value` moved into the engine's range, on the same side of every threshold."""
    if readable(value):
        return value
    return math.copysign(LARGEST, value) if abs(value) >= LARGEST else 0.0
