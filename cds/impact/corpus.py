"""The corpus an impact preview runs on: CDS Hooks request files under a directory, or evaluations
recorded in the store (CDS_RECORD_FACTS), each named in reports by a path or an evaluation id only."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from cds.facts.recorded import fact_model_version, model_changes
from cds.fixtures import render_fixture
from cds.store.database import READ_ONLY
from cds.store.tables import as_utc, fact_models, recorded_evaluations


class CorpusError(Exception):
    """A corpus that cannot be read, said so the person running the preview can act on it."""


@dataclass(frozen=True)
class RequestCase:
    """A request file: run through every service of its hook (or the one chosen)."""

    ref: str                       # its path under the corpus directory
    request: dict[str, Any]        # rendered (a fixture's dates made current)

    @property
    def patient(self) -> str:
        return str(self.request.get("context", {}).get("patientId", ""))


@dataclass(frozen=True)
class RecordedCase:
    """A recorded evaluation: its scrubbed facts replayed through one service."""

    ref: str                       # evaluation <id>
    service_id: str
    patient: str                   # the keyed patient hash
    recorded_at: datetime
    facts: list[dict[str, Any]]
    cards: list[list[Any]]         # what the live call gave: [rule, indicator, order, silent]
    rules_digest: str | None       # of the rules that gave them


@dataclass(frozen=True)
class Corpus:
    source: str
    cases: list[RequestCase] | list[RecordedCase]
    skipped: list[str]             # files that are not CDS Hooks requests, with why


def read_directory(directory: Path, now: datetime | None = None) -> Corpus:
    """Every *.json under `directory` that is a CDS Hooks request (a fixture is rendered as of `now`)."""
    if not directory.is_dir():
        raise CorpusError(f"{directory} is not a directory of CDS Hooks requests")
    now = now or datetime.now(UTC)
    cases: list[RequestCase] = []
    skipped = []
    for path in sorted(directory.rglob("*.json")):
        ref = path.relative_to(directory).as_posix()
        try:
            request = render_fixture(path, now)
        except (OSError, ValueError) as error:   # json.JSONDecodeError is a ValueError
            skipped.append(f"{ref}: not JSON ({error})")
            continue
        if not isinstance(request, dict) or not isinstance(request.get("hook"), str):
            skipped.append(f"{ref}: not a CDS Hooks request (no hook)")
            continue
        cases.append(RequestCase(ref, request))
    if not cases:
        raise CorpusError(f"no CDS Hooks request (*.json with a hook) under {directory}")
    return Corpus(str(directory), cases, skipped)


def read_recorded(engine: Engine, since: datetime, until: datetime, limit: int, source: str) -> Corpus:
    """The newest `limit` evaluations recorded in [since, until). Refused (CorpusError) when some were
    recorded under a fact model other than this code's: replaying them would not be exact."""
    table = recorded_evaluations
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        rows = connection.execute(
            select(table).where(table.c.recorded_at >= as_utc(since), table.c.recorded_at < as_utc(until))
            .order_by(table.c.recorded_at.desc(), table.c.evaluation_id).limit(limit)).mappings().all()
        versions = Counter(row["fact_model"] for row in rows)
        models = {version: fields for version, fields in connection.execute(
            select(fact_models.c.version, fact_models.c.fields).where(fact_models.c.version.in_(list(versions))))}
    if not rows:
        raise CorpusError(f"no evaluation recorded from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC in "
                          f"{source} (is CDS_RECORD_FACTS on where the service runs?)")
    current = fact_model_version()
    foreign = {version: count for version, count in versions.items() if version != current}
    if foreign:
        raise CorpusError(_refusal(foreign, models, [row for row in rows if row["fact_model"] in foreign], current))
    return Corpus(source, [RecordedCase(f"evaluation {row['evaluation_id']}", row["service_id"],
                                        row["patient_hash"] or "", as_utc(row["recorded_at"]), _json(row["facts"]),
                                        _json(row["cards"]), row["rules_digest"])
                           for row in reversed(rows)], [])


def _refusal(foreign: dict[str, int], models: dict[str, Any], rows: list[Any], current: str) -> str:
    lines = [f"{sum(foreign.values())} of the recorded evaluations were made under another fact model than this "
             f"code's ({current}): their facts cannot be replayed exactly, so the corpus is refused."]
    for version, count in sorted(foreign.items()):
        moments = [as_utc(row["recorded_at"]) for row in rows if row["fact_model"] == version]
        changes = model_changes(_json(models[version])) if version in models else ["(its fields were not recorded)"]
        lines.append(f"  fact model {version}: {count} evaluations recorded from {min(moments):%Y-%m-%d %H:%M} to "
                     f"{max(moments):%Y-%m-%d %H:%M} UTC; what differs:")
        lines += [f"    {change}" for change in changes[:20]]
        if len(changes) > 20:
            lines.append(f"    … and {len(changes) - 20} more")
    lines.append("Choose a period (--since, --until) recorded under this version only, or preview with the version "
                 "of the code that recorded them.")
    return "\n".join(lines)


def _json(value: Any) -> Any:
    """A JSON column's value (some drivers hand back text)."""
    return json.loads(value) if isinstance(value, str) else value
