"""A dosage's timing → how often the dose is given, and whether the course ends."""

from __future__ import annotations

from dataclasses import dataclass

from cds.fhir.models import Dosage, TimingRepeat

_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "a": 365.25}
_PERIOD_NAMES = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}
_PLAIN = {"every day": "daily", "every week": "weekly", "every month": "monthly"}


@dataclass(frozen=True)
class Schedule:
    """Unrounded interval and rate; None where the timing does not say."""

    interval_days: float | None = None
    per_day: float | None = None
    bounded: bool = False                # repeat.count, boundsDuration or boundsPeriod.end
    doses: int | None = None             # repeat.count
    text: str | None = None              # "every 2 days", "3 times every week"


def read_schedule(dosage: Dosage | None, days_per_month: float) -> Schedule:
    """The schedule of timing.repeat, read as the most frequent it allows: frequencyMax over
    frequency, one dose per timeOfDay or dayOfWeek when no frequency is given."""
    repeat = dosage.timing.repeat if dosage and dosage.timing else None
    if repeat is None:
        return Schedule()
    bounded = bool(repeat.count or repeat.boundsDuration or (repeat.boundsPeriod and repeat.boundsPeriod.end))
    period, unit = repeat.period, repeat.periodUnit
    frequency = max(repeat.frequency or 0, repeat.frequencyMax or 0)
    if not frequency and repeat.timeOfDay:
        frequency, period, unit = len(repeat.timeOfDay), period or 1, unit or "d"
    elif not frequency and repeat.dayOfWeek:
        frequency, period, unit = len(repeat.dayOfWeek), period or 1, unit or "wk"
    unit_days = days_per_month if unit == "mo" else _PERIOD_DAYS.get(unit or "")
    if period is None or unit_days is None or float(period) <= 0:
        return Schedule(bounded=bounded, doses=repeat.count)
    period_days, frequency = float(period) * unit_days, frequency or 1
    return Schedule(period_days / frequency, frequency / period_days, bounded, repeat.count, _text(repeat))


def _text(repeat: TimingRepeat) -> str | None:
    if repeat.period is None or not repeat.periodUnit:
        return None
    unit = _PERIOD_NAMES.get(repeat.periodUnit, repeat.periodUnit)
    period = float(repeat.period)
    frequency = int(repeat.frequency or 1)
    every = f"every {unit}" if period == 1 else f"every {period:g} {unit}s"
    if repeat.frequencyMax and repeat.frequencyMax > frequency:
        return f"{frequency} to {repeat.frequencyMax} times {every}"
    if frequency == 1:
        return _PLAIN.get(every, every)
    return f"{frequency} times {'a ' + unit if period == 1 else every}"
