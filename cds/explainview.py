"""A rule's explanation (cds.engine.explain) for people and for programs: text lines, or JSON-ready data.
`cds rules explain` prints it, and `cds rules test` prints it under an example that failed."""

from __future__ import annotations

import json
from typing import Any

from cds.engine.explain import RuleReport


def report_lines(report: RuleReport) -> list[str]:
    """Fired or quiet, then each condition (held, failed or not reached, and its line) with the facts it saw."""
    lines = [f"{'FIRED' if report.fired else 'quiet'}  {report.rule.id}"]
    for condition in report.conditions:
        lines.append(f"    {condition.status:11} {_json(condition.condition)}  (line {condition.line})")
        lines += [f"                {_json(fact)}" for fact in condition.candidates]
    lines += [f"    case {case.indicator}: {'held' if case.held else 'not held'}  {_json(case.conditions)}"
              for case in report.cases]
    return lines


def report_data(report: RuleReport) -> dict[str, Any]:
    """The same as data: `cds rules explain --format json`, `cds rules test --format json`."""
    return {
        "rule": report.rule.id, "file": report.rule.file, "line": report.rule.line, "fired": report.fired,
        "conditions": [{"status": c.status, "line": c.line, "condition": c.condition, "facts": c.candidates}
                       for c in report.conditions],
        "cases": [{"indicator": case.indicator, "held": case.held, "conditions": case.conditions}
                  for case in report.cases],
    }


def _json(value: Any) -> str:
    return json.dumps(value, default=str)
