"""What the card log alone cannot say, added to a report for the API, the console and the export: the
firing alarms as of the period's last whole day, and the names of override reasons an EHR sent as a bare
system and code (from the rulebook's own catalogue)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import partial

from sqlalchemy import Engine

from cds.analytics.figures import AnalyticsQuery, AnalyticsReport, ReasonCount, RuleFigures
from cds.analytics.queries import build_report
from cds.analytics.view import no_cards, stopped_in_scope
from cds.analytics.watching import RuleWatch, last_whole_day
from cds.rulebook.model import Rulebook

Judge = Callable[[date], dict[str, RuleWatch]]   # every live rule judged as of a day


def annotated_report(engine: Engine, query: AnalyticsQuery, judge: Judge, rulebook: Rulebook | None) -> AnalyticsReport:
    """The period's report with its alarms (as of its last whole day) and its reasons named, by the rules in
    force (None: they could not be read)."""
    as_of = last_whole_day(query.until)
    report = with_alarms(build_report(engine, query), judge(as_of), as_of,
                         partial(stopped_in_scope, query=query, rulebook=rulebook))
    return with_reason_names(report, rulebook.override_reasons) if rulebook and rulebook.override_reasons else report


def with_alarms(report: AnalyticsReport, watched: dict[str, RuleWatch], as_of: date,
                shown: Callable[[str], bool]) -> AnalyticsReport:
    """Each rule's alarm as of `as_of`, and whether it could be judged; a flagged rule that gave no card in the
    period (stopped) is added where `shown` says it belongs."""
    figures = {rule.rule_id: rule for rule in report.rules}
    flagged = [rule_id for rule_id, found in sorted(watched.items())
               if found.alarm and rule_id not in figures and shown(rule_id)]

    def judged(rule: RuleFigures) -> RuleFigures:
        found = watched.get(rule.rule_id)
        return replace(rule, alarm=found.alarm, alarm_judged=found.judged) if found else rule

    return replace(report, rules=[judged(rule) for rule in [*report.rules, *map(no_cards, flagged)]],
                   alarms_as_of=as_of)


def with_reason_names(report: AnalyticsReport, catalogue: dict[str, dict[str, str]]) -> AnalyticsReport:
    """Override reasons without a display, named from the catalogue (services.yaml override_reasons) when
    their system is the catalogue's (or none) and it knows their code."""
    def named(reason: ReasonCount) -> ReasonCount:
        if reason.display or reason.system not in (catalogue["system"], None):
            return reason
        return replace(reason, display=catalogue["codes"].get(reason.code))

    return replace(report, rules=[replace(rule, top_override_reasons=[named(r) for r in rule.top_override_reasons])
                                  for rule in report.rules])
