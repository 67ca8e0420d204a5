"""`cds rules test` output: text for people (each failed example at its file:line, with the trace of its
rule on the example's facts), JSON for programs, JUnit XML for CI servers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from cds.engine.explain import RuleReport
from cds.explainview import report_data, report_lines
from cds.ruletests import TestResult, summary

Traced = Sequence[tuple[TestResult, RuleReport | None]]   # each result, with its trace when it failed


def text_lines(results: Traced) -> list[str]:
    """PASSED or FAILED per example; under a failure, where the example is and why the rule did what it did."""
    lines = []
    for result, report in results:
        mark = "PASSED" if result.passed else "FAILED"
        lines.append(f"{mark} {result.rule.id} [{result.test.label} expect {result.test.expect}] {result.message}")
        if not result.passed:
            lines += [f"    at {result.where}", *_trace_lines(result, report)]
    lines.append(summary([result for result, _ in results]))
    return lines


def json_report(results: Traced) -> dict[str, Any]:
    """Every example's outcome, a failure's trace with it."""
    return {"summary": summary([result for result, _ in results]), "passed": all(r.passed for r, _ in results),
            "examples": [{"rule": r.rule.id, "file": r.rule.file, "line": r.test.line, "example": r.test.label,
                          "service": r.service.id if r.service else None, "expect": r.expected,
                          "passed": r.passed, "got": r.got, "seconds": round(r.seconds, 4),
                          **({"trace": report_data(report)} if report is not None else {})}
                         for r, report in results]}


def junit_xml(results: Traced) -> str:
    """A JUnit report: a test suite per pack, a test case per example (class: the rule id), a failure with the
    example's file:line and the trace; what Jenkins, GitLab and Azure DevOps read."""
    outcomes = [result for result, _ in results]
    root = ET.Element("testsuites", name="cds rules test", **_counts(outcomes))
    for pack, group in groupby(results, key=lambda pair: pair[0].rule.pack):
        members = list(group)
        suite = ET.SubElement(root, "testsuite", name=pack, file=members[0][0].rule.file,
                              **_counts([result for result, _ in members]), skipped="0")
        for result, report in members:
            case = ET.SubElement(suite, "testcase", classname=result.rule.id,
                                 name=f"{result.test.label} expect {result.expected}", time=f"{result.seconds:.3f}")
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=result.message, type="RuleExampleFailed")
                failure.text = "\n".join([f"at {result.where}", *_trace_lines(result, report)])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(results: list[TestResult]) -> dict[str, str]:
    return {"tests": str(len(results)), "failures": str(sum(not r.passed for r in results)), "errors": "0",
            "time": f"{sum(r.seconds for r in results):.3f}"}


def _trace_lines(result: TestResult, report: RuleReport | None) -> list[str]:
    if report is None or result.service is None:
        return []
    return [f"    on {result.service.id}:", *(f"    {line}" for line in report_lines(report))]
