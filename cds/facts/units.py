"""Unit conversion through UCUM (ucumvert parses UCUM into pint quantities).

Units are converted, never guessed: a unit that is not valid UCUM (after the rulebook's alias
table for common display strings) or whose dimension does not fit gives None.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import pint
from ucumvert import PintUcumRegistry

from cds.fhir.models import Quantity

UCUM_SYSTEM = "http://unitsofmeasure.org"
_DIMENSIONS = {"mass": "ug", "volume": "mL"}


@cache
def _registry() -> PintUcumRegistry:
    return PintUcumRegistry()


@lru_cache(maxsize=512)
def _parse(ucum: str) -> pint.Quantity | None:
    """The UCUM code as a pint quantity; None when it is not UCUM or names no measurable unit
    (a bare annotation such as {pill} parses to a token, not a quantity)."""
    try:
        parsed = _registry().from_ucum(ucum)
    except Exception:  # ucumvert raises its own, lark's and pint's errors for bad input
        return None
    return parsed if isinstance(parsed, pint.Quantity) else None


@lru_cache(maxsize=1024)
def _factor(ucum: str, target: str, molar_mass_g_per_mol: float | None) -> float | None:
    """How many `target` one `ucum` is (bridging mol and mass by the molar mass), or None."""
    source, goal = _parse(ucum), _parse(target)
    if source is None or goal is None:
        return None
    try:
        attempts = [source]
        if molar_mass_g_per_mol:
            molar_mass = source._REGISTRY.Quantity(molar_mass_g_per_mol, "g/mol")
            attempts += [source * molar_mass, source / molar_mass]
    except (pint.errors.PintError, TypeError, ValueError):
        return None
    for attempt in attempts:
        try:
            return float(attempt.to(goal).magnitude)
        except (pint.errors.PintError, TypeError, ValueError):
            continue
    return None


class Units:
    """UCUM-aware conversion, with the rulebook's aliases for non-UCUM display strings."""

    def __init__(self, aliases: dict[str, str]):
        self._aliases = {key.lower(): value for key, value in aliases.items()}

    def ucum(self, code: str | None, system: str | None, text: str | None) -> str | None:
        """The UCUM code of a Quantity: its `code` when the system is UCUM, else what was written.

        Written units (a code without the UCUM system, or the display `unit`) are looked up in
        the alias table first, ignoring case: "MG" is milligrams, not UCUM's megagauss.
        """
        if code and system == UCUM_SYSTEM and self.is_ucum(code):
            return code
        for candidate in (code, text):
            if candidate:
                written = candidate.strip()
                alias = self._aliases.get(written.lower())
                if alias is not None:
                    return alias
                if self.is_ucum(written):
                    return written
        return None

    def of(self, quantity: Quantity) -> str | None:
        """The UCUM code of a FHIR Quantity."""
        return self.ucum(quantity.code, quantity.system, quantity.unit)

    @staticmethod
    @lru_cache(maxsize=1024)
    def same(first: str, second: str) -> bool:
        """Whether two UCUM codes are the same unit (pg/ml and pg/mL are)."""
        a, b = _parse(first), _parse(second)
        try:
            return a is not None and b is not None and bool(a == b)
        except pint.errors.PintError:
            return False

    @staticmethod
    def is_ucum(code: str) -> bool:
        return _parse(code) is not None

    @staticmethod
    def convert(value: float, ucum: str | None, target: str,
                molar_mass_g_per_mol: float | None = None) -> float | None:
        """`value` in `ucum` expressed in `target`, or None when it cannot be converted.

        UCUM units here are all proportional (no offsets), so one factor per unit pair, found by
        the UCUM library once and cached, converts every value: a pint conversion per lab result
        was most of the cost of a large record.
        """
        factor = _factor(ucum, target, molar_mass_g_per_mol) if ucum else None
        if factor is None or not math.isfinite(value):
            return None
        return float(f"{value * factor:.10g}")

    @staticmethod
    def dimension(ucum: str | None) -> str | None:
        """'mass' or 'volume' when the UCUM code measures one, else None."""
        parsed = _parse(ucum) if ucum else None
        if parsed is None:
            return None
        return next((name for name, probe in _DIMENSIONS.items()
                     if parsed.dimensionality == _parse(probe).dimensionality), None)
