"""The firing alarms of the card log as of a day: each live rule's history (cds.analytics.history) judged by
its control chart (cds.analytics.alarms), a flag naming the rule versions in force before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from cds.analytics.alarms import AlarmSettings, Excursion, Judged, watch
from cds.analytics.figures import Alarm
from cds.analytics.history import RuleHistory, histories
from cds.rulebook import versions


@dataclass(frozen=True)
class RuleWatch:
    rule_id: str
    days: list[Judged]                  # the chart, from the first day asked for
    alarm: Alarm | None
    judged: bool                        # False: too little live history, or too rare, to judge


def last_whole_day(until: datetime, now: datetime | None = None) -> date:
    """The last UTC day that has ended by `until` (and by now): the day alarms judge."""
    end = min(until, now or datetime.now(UTC)).astimezone(UTC)
    return end.date() - timedelta(days=1)


def watch_rules(engine: Engine, as_of: date, settings: AlarmSettings, first: date | None = None,
                rule_ids: set[str] | None = None, limits: bool = False) -> dict[str, RuleWatch]:
    """Every rule live on `as_of` (or those of `rule_ids`), judged as of that day; the charts start at
    `first` (default: as_of) and read history far enough back for their baselines."""
    start = min(first or as_of, as_of - timedelta(days=settings.history_days))
    found = histories(engine, start, as_of)
    watched = {}
    for rule_id, history in found.items():
        if (rule_ids is not None and rule_id not in rule_ids) or (rule_ids is None and as_of not in history.live):
            continue
        result = watch(history.counts, history.live, start, as_of, settings, limits)
        chart = [day for day in result.days if day.day >= (first or as_of)]
        alarm = _alarm(result.excursion, history, as_of) if result.excursion else None
        watched[rule_id] = RuleWatch(rule_id, chart, alarm, result.judged)
    return watched


def _alarm(excursion: Excursion, history: RuleHistory, as_of: date) -> Alarm:
    before = history.in_force(*excursion.baseline)
    after = history.in_force(excursion.since, excursion.last)
    packs = _changed({pack for pack, _ in before}, {pack for pack, _ in after})
    profiles = _changed({_profile(pack) for pack, _ in before}, {_profile(pack) for pack, _ in after})
    digests = _changed({digest for _, digest in before if digest}, {digest for _, digest in after if digest})
    days = (excursion.last - excursion.since).days + 1
    said = [f"{excursion.status.capitalize()} since {excursion.since.isoformat()}: {excursion.observed} cards in "
            f"{days} day{'s' if days > 1 else ''} against {excursion.expected:.1f} expected "
            f"(p = {excursion.p_value:.1g})."]
    if packs[0]:
        said.append(f"Pack version {', '.join(packs[0])} → {', '.join(packs[1]) or 'none'}.")
    if profiles[0]:
        said.append(f"Profile {', '.join(profiles[0])} → {', '.join(profiles[1]) or 'none'}.")
    if digests[0] and not packs[0]:
        said.append(f"Rules in force {', '.join(digests[0])} → {', '.join(digests[1])} (another pack, the value "
                    "sets, facts.yaml or the regimens changed).")
    if not (packs[0] or profiles[0] or digests[0]):
        said.append("No rule, value-set or profile change in force: look at the incoming data.")
    return Alarm(excursion.status, excursion.since, as_of, excursion.observed, round(excursion.expected, 2),
                 excursion.p_value, *excursion.baseline, *packs, *profiles, *digests, " ".join(said))


def _changed(before: set[str], after: set[str]) -> tuple[list[str], list[str]]:
    """Both sorted when they differ, else two empty lists."""
    return (sorted(before), sorted(after)) if before != after else ([], [])


def _profile(pack_version: str) -> str:
    parsed = versions.parse(pack_version)
    return (parsed.profile if parsed else None) or "(none)"
