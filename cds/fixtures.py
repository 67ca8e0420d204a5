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


def render_fixture(path: Path | str, today: date | None = None) -> dict[str, Any]:
    """The concrete request a fixture stands for, dated relative to `today`."""
    path = Path(path)
    request = json.loads(path.read_text(encoding="utf-8"))
    header = request.pop(HEADER, None)
    if header is None:
        return request
    if "patient" in header:
        patient = json.loads((FIXTURE_DIR / "patients" / f"{header['patient']}.json").read_text(encoding="utf-8"))
        request["prefetch"] = {**patient, **(request.get("prefetch") or {})}
    recorded = date.fromisoformat(header.get("recordedAt", (today or _today()).isoformat()))
    return _shift(request, (today or _today()) - recorded)


def _today() -> date:
    return datetime.now(UTC).date()


def _shift(value: Any, offset: timedelta) -> Any:
    if isinstance(value, dict):
        return {key: _shift(item, offset) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, offset) for item in value]
    if isinstance(value, str) and offset and (match := _DATE.match(value)):
        shifted = date.fromisoformat(match.group(1)) + offset
        return shifted.isoformat() + (match.group(2) or "")
    return value
