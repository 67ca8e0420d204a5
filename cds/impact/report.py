"""An impact preview as text (a terminal), Markdown (a merge request) or JSON (a script)."""

from __future__ import annotations

import json
from dataclasses import asdict

from cds.impact.compare import CHANGES, Impact, RuleImpact

CHANGE_NAMES = {"appeared": "cards appearing", "disappeared": "cards disappearing",
                "indicator_changed": "indicator changed", "went_live": "shown (silent before)",
                "went_silent": "silent (shown before)"}


def as_json(impact: Impact) -> str:
    return json.dumps({**asdict(impact), "impacts": [{**asdict(i), "moved": i.moved} for i in impact.impacts]},
                      indent=2)


def as_text(impact: Impact) -> str:
    lines = [f"Impact of {impact.rules} over {impact.base}",
             f"corpus: {impact.corpus} ({impact.evaluations} evaluations, {len(impact.moved)} with other cards)", ""]
    lines += [f"{name}: {', '.join(ids)}" for name, ids in _definition_lines(impact)] or ["no rule text changed"]
    moved = [i for i in impact.impacts if i.moved]
    lines.append("")
    if not moved:
        lines.append("no card changed on this corpus")
    for found in moved:
        lines.append(f"{found.rule_id}{_modes(found)}: fired {found.fired_before} → {found.fired_after} "
                     f"(patients {found.patients_before} → {found.patients_after})")
        for change in CHANGES:
            if found.changes[change]:
                lines.append(f"  {CHANGE_NAMES[change]}: {found.changes[change]}")
                lines += [f"    {ref}" for ref in found.examples[change]]
    quiet = [i for i in impact.impacts if not i.moved]
    if quiet:
        lines += ["", f"unchanged on this corpus: {len(quiet)} rules ({', '.join(i.rule_id for i in quiet)})"]
    lines += _notes(impact, "")
    return "\n".join(lines) + "\n"


def as_markdown(impact: Impact) -> str:
    lines = [f"## Impact of `{impact.rules}` over `{impact.base}`", "",
             f"Corpus `{impact.corpus}`: {impact.evaluations} evaluations, {len(impact.moved)} with other cards.", ""]
    lines += [f"- **{name}**: {', '.join(f'`{i}`' for i in ids)}" for name, ids in _definition_lines(impact)] or [
        "No rule text changed."]
    moved = [i for i in impact.impacts if i.moved]
    lines += ["", "| Rule | Mode | Fired before | Fired after | Patients before | Patients after | "
              + " | ".join(CHANGE_NAMES[c].capitalize() for c in CHANGES) + " |",
              "|---|---|---:|---:|---:|---:|" + "---:|" * len(CHANGES)]
    lines += [f"| `{i.rule_id}` | {_mode_text(i)} | {i.fired_before} | "
              f"{i.fired_after} | {i.patients_before} | {i.patients_after} | "
              + " | ".join(str(i.changes[c]) for c in CHANGES) + " |" for i in impact.impacts]
    if moved:
        lines += ["", "### Examples", ""]
        for found in moved:
            lines.append(f"- `{found.rule_id}`")
            lines += [f"  - {CHANGE_NAMES[change]}: " + ", ".join(f"`{ref}`" for ref in found.examples[change])
                      for change in CHANGES if found.examples[change]]
    lines += _notes(impact, "- ")
    return "\n".join(lines) + "\n"


def _definition_lines(impact: Impact) -> list[tuple[str, list[str]]]:
    changes = impact.rule_changes
    return [(name, ids) for name, ids in (("rules added", changes.added), ("rules removed", changes.removed),
                                          ("rules edited", changes.edited), ("other files changed", changes.files))
            if ids]


def _mode_text(found: RuleImpact) -> str:
    """live, silent, or the change: silent → live, absent → live, …"""
    if found.mode_before == found.mode_after:
        return found.mode_after or "absent"
    return f"{found.mode_before or 'absent'} → {found.mode_after or 'absent'}"


def _modes(found: RuleImpact) -> str:
    """The mode after a rule id in text, when it is not simply live."""
    shown = _mode_text(found)
    return "" if shown == "live" else f" ({shown})"


def _notes(impact: Impact, bullet: str) -> list[str]:
    lines = []
    if impact.warnings:
        lines += ["", "Warnings:"] + [f"{bullet or '  '}{warning}" for warning in impact.warnings]
    if impact.problems:
        lines += ["", f"Not evaluated ({len(impact.problems)}):"] + [f"{bullet or '  '}{p}" for p in impact.problems]
    return lines
