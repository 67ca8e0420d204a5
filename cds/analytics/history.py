"""Each rule's daily history for the firing alarms: live cards per UTC day (from the hourly tally), the days
it was live, and the rule versions in force each day (from rules_in_force, and the cards' pack versions)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, false, func, select

from cds.analytics.queries import utc_day
from cds.store.database import READ_ONLY
from cds.store.tables import as_utc, card_hours, rules_in_force

Version = tuple[str, str | None]   # pack version, and the rulebook digest when rules_in_force noted it


@dataclass
class RuleHistory:
    counts: dict[date, int] = field(default_factory=dict)           # live cards per day
    live: set[date] = field(default_factory=set)                    # days the rule was live
    versions: defaultdict[date, set[Version]] = field(default_factory=lambda: defaultdict(set))

    def in_force(self, first: date, last: date) -> set[Version]:
        """The versions of the rule in force on any day from `first` to `last`."""
        return {version for day, found in self.versions.items() if first <= day <= last for version in found}


def histories(engine: Engine, first: date, last: date) -> dict[str, RuleHistory]:
    """Every rule live or firing from `first` to `last` (UTC days, both included). A rule was live on a day
    when rules_in_force has it live then, or it issued live cards. Before rules_in_force noted anything (a
    store older than it, or a card log no service watched), a rule counts as live from its first card on."""
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    found: defaultdict[str, RuleHistory] = defaultdict(RuleHistory)
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        day = utc_day(card_hours.c.hour, engine.dialect.name)
        for rule_id, on, pack, cards in connection.execute(
                select(card_hours.c.rule_id, day, card_hours.c.pack_version, func.sum(card_hours.c.cards))
                .where(card_hours.c.hour >= start, card_hours.c.hour < end, card_hours.c.silent == false())
                .group_by(card_hours.c.rule_id, day, card_hours.c.pack_version)):
            history, on = found[rule_id], date.fromisoformat(str(on))
            history.counts[on] = history.counts.get(on, 0) + int(cards)
            history.live.add(on)
            if pack:
                history.versions[on].add((pack, None))
        for on, rule_id, pack, digest, mode in connection.execute(
                select(rules_in_force.c.day, rules_in_force.c.rule_id, rules_in_force.c.pack_version,
                       rules_in_force.c.rules_digest, rules_in_force.c.mode)
                .where(rules_in_force.c.day >= first, rules_in_force.c.day <= last)):
            history = found[rule_id]
            history.versions[on].discard((pack, None))
            history.versions[on].add((pack, digest))
            if mode == "live":
                history.live.add(on)
        noted_from = connection.execute(select(func.min(rules_in_force.c.day))).scalar()
    unnoted_until = min(last, noted_from - timedelta(days=1)) if noted_from else last
    for history in found.values():
        if history.counts:
            begun = min(history.counts)
            history.live |= {begun + timedelta(days=n) for n in range((unnoted_until - begun).days + 1)}
    return dict(found)


def _midnight(day: date) -> datetime:
    return as_utc(datetime.combine(day, time()))
