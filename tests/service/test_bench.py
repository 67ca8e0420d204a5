"""`cds bench --quick` end to end: real servers, real requests, every table and row printed.
No timing is asserted: performance is measured by the benchmark, never by a timed test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.bodies import CASES, MAIN_CASE
from bench.probes import PATHS
from bench.report import STAGES, TARGETS
from bench.run import CONCURRENCY, SCALING, SIZES


def _rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the table under the heading that starts with `heading`."""
    section = markdown.split(f"\n### {heading}", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_quick_bench_prints_every_table_and_row(tmp_path: Path) -> None:
    written = tmp_path / "bench.json"
    defaults = {name: value for name, value in os.environ.items() if not name.startswith("CDS_")}
    run = subprocess.run([sys.executable, "-m", "cds.cli", "bench", "--quick", "--workers", "2",
                          "--json", str(written)], env=defaults, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert out.startswith("## Benchmark results") and "commit " in out and "cores" in out

    expected = {(case.service, size.name, str(c)) for case in CASES for size in SIZES for c in CONCURRENCY}
    expected |= {("floor", size.name, str(c)) for size in SIZES for c in CONCURRENCY}
    assert {tuple(row[:3]) for row in _rows(out, "Load: 1 worker")} == expected
    assert {tuple(row[:3]) for row in _rows(out, "Load: 2 workers")} == {
        (server, size.name, str(c)) for server in ("floor", MAIN_CASE.service) for size in SIZES for c in CONCURRENCY}
    assert [row[0] for row in _rows(out, "Targets")] == [target[0] for target in TARGETS]
    assert {row[0] for row in _rows(out, "Per-stage breakdown")} >= {*STAGES, "total"}
    assert [row[0] for row in _rows(out, "Scaling")] == [f"{count:,}" for count in SCALING]
    assert [row[0] for row in _rows(out, "Probes")] == list(PATHS)
    assert "### Checks\n\nEvery answer counted was 200" in out

    results = json.loads(written.read_text())
    assert len(results["load"]) == len(expected) + 2 * len(SIZES) * len(CONCURRENCY)
    assert all(row["ok"] > 0 and row["missing_cards"] == 0 for row in results["load"])
    assert results["problems"] == []
