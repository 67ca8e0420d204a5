"""What the console pages show, computed from a report and the rules in force (no HTTP, no HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta

from cds.analytics.figures import AnalyticsQuery, AnalyticsReport, RuleFigures
from cds.rulebook import versions
from cds.rulebook.model import Rule, Rulebook


@dataclass(frozen=True)
class Filters:
    """The filter form over an analytics query: its period as whole UTC days, its service and pack version."""

    query: AnalyticsQuery

    @property
    def first(self) -> date:
        return self.query.since.astimezone(UTC).date()

    @property
    def last(self) -> date:
        """The period's last day (its end is exclusive)."""
        return (self.query.until.astimezone(UTC) - timedelta(microseconds=1)).date()

    def fields(self) -> dict[str, str]:
        """The form's values, also the query string that keeps the filters from page to page."""
        return {"since": self.first.isoformat(), "until": self.last.isoformat(), "service": self.query.service or "",
                "pack_version": self.query.pack_version or ""}


@dataclass(frozen=True)
class RuleRow:
    """One rule's figures, with the rule in force (None: fired in the period, since removed)."""

    figures: RuleFigures
    rule: Rule | None


def no_cards(rule_id: str) -> RuleFigures:
    return RuleFigures(rule_id, fired=0, patients=0, accepted=0, overridden=0, accept_rate=None, override_rate=None,
                       top_override_reasons=[], median_seconds_to_feedback=None, firing_by_day=[])


def in_scope(rule: Rule, query: AnalyticsQuery, rulebook: Rulebook) -> bool:
    """Whether the rule could have fired under the query's service and pack version filters."""
    if query.pack_version is not None and not versions.matches(rule.pack_version, query.pack_version):
        return False
    if query.service is None:
        return True
    service = rulebook.services.get(query.service)
    return service is not None and rule.pack in service.packs and service.hook in rule.hooks


def stopped_in_scope(rule_id: str, query: AnalyticsQuery, rulebook: Rulebook | None) -> bool:
    """Whether a rule flagged as stopped (no card in the period) belongs in a report with the query's filters:
    unfiltered, every one; filtered, a rule in force that could have fired under them (the alarm judges the
    rule across services, so a rule another service runs is not this page's news)."""
    if query.service is None and query.pack_version is None:
        return True
    if rulebook is None or (rule := rulebook.rule(rule_id)) is None:
        return False
    return in_scope(rule, query, rulebook)


def rule_rows(report: AnalyticsReport, rulebook: Rulebook) -> list[RuleRow]:
    """Every rule whose cards were shown or that has an alarm, then every live rule in scope that did not
    fire (with zeros); most fired first."""
    fired = {f.rule_id: f for f in report.rules if f.fired or f.alarm or not _silent_now(f.rule_id, rulebook)}
    quiet = [no_cards(rule.id) for rule in rulebook.rules()
             if rule.id not in fired and not rule.silent and in_scope(rule, report.query, rulebook)]
    rows = [RuleRow(figures, rulebook.rule(figures.rule_id)) for figures in [*fired.values(), *quiet]]
    return sorted(rows, key=lambda row: (-row.figures.fired, row.figures.rule_id))


def silent_rows(report: AnalyticsReport, rulebook: Rulebook) -> list[RuleRow]:
    """Every rule that would have fired while silent, then every silent rule in scope that would not have
    (with zeros); most would-have-fired first."""
    logged = {f.rule_id: f for f in report.rules if f.silent_fired}
    quiet = [no_cards(rule.id) for rule in rulebook.rules()
             if rule.id not in logged and rule.silent and in_scope(rule, report.query, rulebook)]
    rows = [RuleRow(figures, rulebook.rule(figures.rule_id)) for figures in [*logged.values(), *quiet]]
    return sorted(rows, key=lambda row: (-row.figures.silent_fired, row.figures.rule_id))


def _silent_now(rule_id: str, rulebook: Rulebook) -> bool:
    rule = rulebook.rule(rule_id)
    return rule is not None and rule.silent


def figures_of(report: AnalyticsReport, rule_id: str) -> RuleFigures:
    return next((figures for figures in report.rules if figures.rule_id == rule_id), no_cards(rule_id))


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def duration(seconds: float | None) -> str:
    """A median time to feedback in the largest unit that keeps it readable: < 1 s, 45 s, 2.5 min, 5.0 h, 1.5 d."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    for limit, divisor, unit in ((90 * 60, 60, "min"), (36 * 3600, 3600, "h")):
        if seconds < limit:
            return f"{seconds / divisor:.1f} {unit}"
    return f"{seconds / 86400:.1f} d"
