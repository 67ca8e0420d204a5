"""The analytics report as the API's JSON body and as CSV (one row per rule)."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import TypeAdapter

from cds.analytics.figures import AnalyticsReport

_REPORT = TypeAdapter(AnalyticsReport)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FIGURES = ["rule_id", "fired", "patients", "accepted", "overridden", "accept_rate", "override_rate",
           "median_seconds_to_feedback", "silent_fired", "silent_patients"]
CSV_COLUMNS = [*FIGURES, "top_override_reasons", "firing_by_day", "alarm_judged", "alarm", "alarm_since",
               "alarm_summary"]


def report_json(report: AnalyticsReport) -> dict[str, Any]:
    """The report as JSON data: the dataclasses' fields, dates and times in ISO 8601."""
    return _REPORT.dump_python(report, mode="json")


def report_csv(report: AnalyticsReport) -> str:
    """One row per rule; reasons as `code=count` and days as `YYYY-MM-DD=count`, separated by `; `; its firing
    alarm: whether the rule could be judged (empty: not live, not watched), the alarm's status (stopped,
    dropped, jumped; empty: none), first day and summary.
    Safe to open in a spreadsheet (OWASP CSV injection): a cell that begins with `=`, `+`, `-`, `@`,
    a tab or a carriage return is prefixed with `'`, and a cell holding CR or LF is quoted (RFC 4180
    line ends, so both are quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for rule in report_json(report)["rules"]:
        alarm = rule["alarm"] or {}
        row = {**{column: rule[column] for column in FIGURES},
               "top_override_reasons": "; ".join(f"{r['code']}={r['count']}" for r in rule["top_override_reasons"]),
               "firing_by_day": "; ".join(f"{d['day']}={d['count']}" for d in rule["firing_by_day"]),
               "alarm_judged": rule["alarm_judged"], "alarm": alarm.get("status"), "alarm_since": alarm.get("since"),
               "alarm_summary": alarm.get("summary")}
        writer.writerow([neutralised(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def neutralised(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
