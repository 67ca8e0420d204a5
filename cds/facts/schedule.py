"""A dosage's timing → how often the dose is given, whether the course ends, and when it runs.

The schedule is read from `timing.repeat`; when that gives no frequency, from `timing.code` (the HL7
timing abbreviations of facts.yaml `timing_codes`); a dose read from text brings its own schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.fhir.models import Dosage, TimingRepeat
from cds.fhir.record import as_datetime

_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "a": 365.25}
_PERIOD_NAMES = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}
_PLAIN = {"every day": "daily", "every week": "weekly", "every month": "monthly", "every 2 days": "on alternate days"}


@dataclass(frozen=True)
class Schedule:
    """Unrounded interval and rate; None where the timing does not say."""

    interval_days: float | None = None
    per_day: float | None = None
    bounded: bool = False                # repeat.count, boundsDuration or boundsPeriod.end
    doses: int | None = None             # repeat.count
    text: str | None = None              # "every 2 days", "3 times a week"
    start: datetime | None = None        # boundsPeriod.start
    end: datetime | None = None          # boundsPeriod.end
    duration_days: float | None = None   # boundsDuration


@dataclass(frozen=True)
class Frequency:
    """`frequency` doses every `period` `unit` (one row of timing_codes or of the text grammar)."""

    frequency: int
    period: float
    unit: str


class ScheduleReader:
    """Reads timing with the rulebook's month length and timing-code table."""

    def __init__(self, days_per_month: float, timing_codes: dict[str, dict[str, Any]]):
        self._days_per_month = days_per_month
        self.codes = {code: Frequency(spec["frequency"], spec["period"], spec["unit"])
                      for code, spec in timing_codes.items()}

    def read(self, dosage: Dosage | None) -> Schedule:
        """The schedule of timing.repeat, read as the most frequent it allows (frequencyMax over
        frequency, one dose per timeOfDay or dayOfWeek when no frequency is given), else of timing.code."""
        timing = dosage.timing if dosage else None
        repeat = timing.repeat if timing else None
        bounds = _bounds(repeat)
        written = self._repeat(repeat) if repeat else None
        if written is None and timing and timing.code:
            written = next((self.codes[c.code.upper()] for c in timing.code.coding or []
                            if c.code and c.code.upper() in self.codes), None)
        if written is None:
            return Schedule(**bounds)
        return self.of(written, **bounds)

    def of(self, written: Frequency, **bounds: Any) -> Schedule:
        """The schedule of a frequency per period, with the bounds of the dosage it came from."""
        unit_days = self._days_per_month if written.unit == "mo" else _PERIOD_DAYS.get(written.unit)
        if unit_days is None or written.period <= 0 or written.frequency <= 0:
            return Schedule(**bounds)
        period_days = written.period * unit_days
        return Schedule(period_days / written.frequency, written.frequency / period_days,
                        text=frequency_text(written), **bounds)

    @staticmethod
    def _repeat(repeat: TimingRepeat) -> Frequency | None:
        period, unit = repeat.period, repeat.periodUnit
        frequency = max(repeat.frequency or 0, repeat.frequencyMax or 0)
        if not frequency and repeat.timeOfDay:
            frequency, period, unit = len(repeat.timeOfDay), period or 1, unit or "d"
        elif not frequency and repeat.dayOfWeek:
            frequency, period, unit = len(repeat.dayOfWeek), period or 1, unit or "wk"
        if period is None or not unit:
            return None
        return Frequency(frequency or 1, float(period), unit)


def _bounds(repeat: TimingRepeat | None) -> dict[str, Any]:
    if repeat is None:
        return {}
    period, duration = repeat.boundsPeriod, repeat.boundsDuration
    days = None
    if duration is not None and duration.value is not None:
        unit_days = _PERIOD_DAYS.get(duration.code or duration.unit or "")
        days = float(duration.value) * unit_days if unit_days else None
    return {"bounded": bool(repeat.count or duration or (period and period.end)), "doses": repeat.count,
            "start": as_datetime(period.start) if period else None,
            "end": as_datetime(period.end) if period else None, "duration_days": days}


def frequency_text(written: Frequency) -> str:
    """'daily', 'every 2 months', '3 times a week', 'on alternate days'."""
    unit = _PERIOD_NAMES.get(written.unit, written.unit)
    every = f"every {unit}" if written.period == 1 else f"every {written.period:g} {unit}s"
    if written.frequency == 1:
        return _PLAIN.get(every, every)
    times = "twice" if written.frequency == 2 else f"{written.frequency} times"
    return f"{times} {'a ' + unit if written.period == 1 else every}"
