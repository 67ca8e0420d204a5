"""Request fixtures: a CDS Hooks request plus a header naming its patient file and record date.

Fixtures keep real FHIR JSON; their dates are written as of `recordedAt`. Rendering merges the
patient file in as prefetch and shifts every date by (today − recordedAt), so look-back windows
("B12 in the last 365 days") mean the same thing whenever the tests run.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cds import PROJECT_ROOT

HEADER = "x-cobalt-fixture"
FIXTURE_DIR = PROJECT_ROOT / "fhir_fixtures"
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")


def fixture_header(path: Path | str) -> dict[str, Any]:
    """A fixture's header: recordedAt, patient, description and, where it names one, its site profile."""
    return json.loads(Path(path).read_text(encoding="utf-8")).get(HEADER) or {}


def render_fixture(path: Path | str, now: datetime | None = None) -> dict[str, Any]:
    """The concrete request a fixture stands for, dated relative to `now`."""
    path = Path(path)
    request = json.loads(path.read_text(encoding="utf-8"))
    header = request.pop(HEADER, None)
    if header is None:
        return request
    if "patient" in header:
        patient = json.loads((FIXTURE_DIR / "patients" / f"{header['patient']}.json").read_text(encoding="utf-8"))
        request["prefetch"] = {**patient, **(request.get("prefetch") or {})}
    now = now or datetime.now(UTC)
    recorded = date.fromisoformat(header.get("recordedAt", now.date().isoformat()))
    return _shift(request, now.date() - recorded, _time_since_noon(now))


def _time_since_noon(now: datetime) -> timedelta:
    """How far `now` is past (or before) noon UTC, to the minute. A fixture's date-times are
    written as of noon on its record date: shifted by this too, a result written "20 days before,
    at 09:30" is 20 days and 2.5 hours old whenever the tests run, not 19 or 20 by the clock."""
    now = now.astimezone(UTC)
    return timedelta(hours=now.hour - 12, minutes=now.minute)


def _shift(value: Any, days: timedelta, clock: timedelta) -> Any:
    if isinstance(value, dict):
        return {key: _shift(item, days, clock) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, days, clock) for item in value]
    if isinstance(value, str) and (match := _DATE.match(value)):
        moment = _instant(value) if match.group(2) else None
        if moment is not None:
            text = (moment + days + clock).isoformat(timespec="seconds")
            return text.replace("+00:00", "Z") if value.endswith("Z") else text
        if days:
            return (date.fromisoformat(match.group(1)) + days).isoformat() + (match.group(2) or "")
    return value


def _instant(text: str) -> datetime | None:
    """A date-time with a time zone (a FHIR instant or full dateTime), else None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None
