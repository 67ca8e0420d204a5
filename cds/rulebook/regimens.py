"""The regimens suggestions order (rules/regimens.yaml), as typed values: their doses, steps and supply, and
the words a card names them with, so that what a card says is what its suggestion orders."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cds.facts.display import format_number, plural
from cds.facts.schedule import Frequency, frequency_text

_UNIT_DAYS = {"d": 1.0, "wk": 7.0}
_DOSE_MCG = {"mcg": 1.0, "mg": 1000.0}
_ROUTE_TEXT = {"im": "IM", "sc": "SC", "iv": "IV", "oral": "by mouth", "nasal": "nasal"}


@dataclass(frozen=True)
class SuggestedProduct:
    key: str                             # its name in regimens.yaml
    name: str                            # as card text names it: "hydroxocobalamin"
    text: str
    rxnorm: str
    form: str                            # injection | tablet
    strength_mcg: float                  # per mL of an injection, per tablet
    dispense: str                        # mL | tablet


@dataclass(frozen=True)
class RegimenStep:
    frequency: int
    period: float
    unit: str                            # d | wk | mo
    count: int | None = None             # doses; None with `weeks`, or open-ended
    weeks: float | None = None

    def interval_days(self, days_per_month: float) -> float:
        unit_days = days_per_month if self.unit == "mo" else _UNIT_DAYS[self.unit]
        return self.period * unit_days / self.frequency

    def doses(self, days_per_month: float) -> int | None:
        """The doses the step gives: its count, or as many as fit in its weeks; None when open-ended."""
        if self.count is not None:
            return self.count
        if self.weeks is not None:
            return math.ceil(self.weeks * 7 / self.interval_days(days_per_month) - 1e-9)
        return None

    def text(self, days_per_month: float) -> str:
        """'on alternate days for 3 weeks', 'three times a week for 2 weeks (6 doses)', 'every 2 months'."""
        every = frequency_text(Frequency(self.frequency, self.period, self.unit))
        if self.weeks is not None:
            return f"{every} for {format_number(self.weeks)} {plural('week', self.weeks)}"
        if self.count is None:
            return every
        days = self.count * self.interval_days(days_per_month)
        weeks = days / 7
        if days >= 14 and abs(weeks - round(weeks)) < 0.01:
            length = f"{format_number(round(weeks))} weeks"
        else:
            length = f"{format_number(round(days))} {plural('day', round(days))}"
        shown = "" if self.frequency == 1 else f" ({self.count} doses)"
        return f"{every} for {length}{shown}"


@dataclass(frozen=True)
class Regimen:
    name: str
    source: str
    product: SuggestedProduct
    dose_value: float
    dose_unit: str                       # mcg | mg
    route: str                           # im | sc | iv | oral | nasal
    steps: tuple[RegimenStep, ...]
    note: str | None = None
    then: str | None = None              # the regimen that follows, starting the day after this one ends

    @property
    def dose_mcg(self) -> float:
        return self.dose_value * _DOSE_MCG[self.dose_unit]

    @property
    def dose_text(self) -> str:
        return f"{format_number(self.dose_value)} {self.dose_unit}"

    def doses(self, days_per_month: float) -> int | None:
        """Every dose the regimen gives, or None when it is open-ended."""
        counts = [step.doses(days_per_month) for step in self.steps]
        return None if None in counts else sum(counts)  # type: ignore[arg-type]

    def length_days(self, days_per_month: float) -> float | None:
        """From the first dose to the day the next regimen starts; None when open-ended."""
        lengths = [(doses * step.interval_days(days_per_month)) if (doses := step.doses(days_per_month)) else None
                   for step in self.steps]
        return None if None in lengths else sum(lengths)  # type: ignore[arg-type]

    def dispensed(self, days_per_month: float, open_supply_days: float) -> float:
        """How much to dispense, in the product's dispense unit: every dose of a bounded course, else the
        doses in `open_supply_days` (at least one)."""
        doses = self.doses(days_per_month)
        if doses is None:
            doses = max(1, math.floor(open_supply_days / self.steps[-1].interval_days(days_per_month)))
        return doses * self.dose_mcg / self.product.strength_mcg

    def text(self, regimens: dict[str, Regimen], days_per_month: float) -> str:
        """The regimen as a card names it, what follows included: 'hydroxocobalamin 1 mg IM three times a
        week for 2 weeks (6 doses), then 1 mg IM every 3 months'."""
        said = f"{self.product.name} {self.course_text(days_per_month)}"
        if self.note:
            said += f", {self.note}"
        follow = regimens.get(self.then) if self.then else None
        if follow is not None:
            product = f"{follow.product.name} " if follow.product != self.product else ""
            said += f"; then {product}{follow.course_text(days_per_month)}"
        return said

    def course_text(self, days_per_month: float) -> str:
        """'1 mg IM on alternate days for 3 weeks': dose, route and steps."""
        steps = ", then ".join(step.text(days_per_month) for step in self.steps)
        return f"{self.dose_text} {_ROUTE_TEXT[self.route]} {steps}"


def load_products(data: dict[str, Any]) -> dict[str, SuggestedProduct]:
    """The products of regimens.yaml (schema-valid) by name."""
    return {key: SuggestedProduct(key, spec.get("name", key.split("_")[0]), spec["text"], spec["rxnorm"], spec["form"],
                                  spec["strength_mcg"], spec["dispense"])
            for key, spec in data["products"].items()}


def load_regimens(data: dict[str, Any]) -> dict[str, Regimen]:
    """regimens.yaml (schema-valid, a profile's regimens merged in) as Regimens by name."""
    products = load_products(data)
    return {name: Regimen(name, spec["source"], products[spec["product"]], spec["dose"]["value"],
                          spec["dose"]["unit"], spec["route"],
                          tuple(RegimenStep(s["frequency"], s["period"], s["unit"], s.get("count"), s.get("weeks"))
                                for s in spec["steps"]), spec.get("note"), spec.get("then"))
            for name, spec in data["regimens"].items()}
