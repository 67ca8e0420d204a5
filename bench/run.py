"""`cds bench`: every section in one run, on one machine, returned as one JSON-able dict."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.bodies import CASES, LARGE, MAIN_CASE, SMALL, Case, Size, body
from bench.floor import TOPIC
from bench.inprocess import InProcess
from bench.load import LoadGenerator, Target
from bench.machine import describe
from bench.probes import probe_section
from bench.server import Served, floor_command, service_command, serving, settings_env

SIZES = (SMALL, LARGE)
CONCURRENCY = (1, 8)
SCALING = [10, 100, 1000, 5000]
SCALING_MEDICATIONS = 5


@dataclass(frozen=True)
class Options:
    """How long and how much: the defaults measure; `quick()` is a smoke test."""

    workers: int = 2              # the scale-out rows' worker count (1: no scale-out rows)
    warmup_s: float = 1.0         # per load cell, not measured
    duration_s: float = 5.0       # per load cell, measured
    probe_s: float = 6.0          # per probe path and phase
    calls: int = 20               # in-process calls per row (at most)
    calls_budget_s: float = 5.0   # in-process seconds per row (at most, after one call)

    @classmethod
    def quick(cls, workers: int = 2) -> Options:
        return cls(workers, warmup_s=0.05, duration_s=0.15, probe_s=0.4, calls=1, calls_budget_s=0.0)


def run(options: Options, progress: Callable[[str], None]) -> dict[str, Any]:
    """Load tables (service and floor, 1 and N workers), scaling over HTTP, probes, then the
    in-process stage breakdown and scaling; `progress` hears what is being measured, and when."""
    started = time.monotonic()

    def say(message: str) -> None:
        progress(f"[{time.monotonic() - started:5.1f} s] {message}")

    results: dict[str, Any] = {"machine": describe(), "options": asdict(options), "service_env": settings_env()}
    workers = sorted({1, options.workers})
    commands = [command for n in workers for command in (service_command(n), floor_command(n))]
    say(f"starting {len(commands)} servers on 127.0.0.1 ...")
    with LoadGenerator(max(CONCURRENCY)) as generator, serving(*commands) as servers:
        results["load"] = []
        for index, n in enumerate(workers):
            service, floor = servers[2 * index], servers[2 * index + 1]
            cases = CASES if n == 1 else [MAIN_CASE]
            results["load"] += _load_rows(generator, options, n, service, floor, cases, say)
        service = servers[0]
        say("scaling over HTTP (1 worker, c=1) ...")
        http_scaling = {count: _cell(generator, options, service.port, MAIN_CASE, scaling_size(count), 1)
                        for count in SCALING}
        say("probes under load ...")
        results["probes"] = probe_section(generator, service.base, _target(service.port, MAIN_CASE, LARGE),
                                          max(CONCURRENCY), options.probe_s)
    say("in-process stage breakdown and scaling ...")
    local = InProcess()
    results["stages"] = [local.stages(MAIN_CASE, size, options.calls, options.calls_budget_s) for size in SIZES]
    results["scaling"] = local.scaling(MAIN_CASE, [scaling_size(count) for count in SCALING], options.calls,
                                       options.calls_budget_s)
    for row in results["scaling"]:
        row["http"] = http_scaling[row["observations"]]
    results["machine"]["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    results["problems"] = problems(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def scaling_size(observations: int) -> Size:
    return Size(f"{observations} Observations", observations, SCALING_MEDICATIONS)


def problems(results: dict[str, Any]) -> list[str]:
    """Why the numbers cannot be trusted: answers that were not 200 (503 aside: that is shedding),
    answers without the expected cards, cells without a single 200 answer."""
    found = []
    cells = [(f"{row['server']} {row['size']} c={row['concurrency']} ({row['workers']} worker)", row)
             for row in results["load"]]
    cells += [(f"HTTP scaling {row['observations']} Observations", row["http"]) for row in results["scaling"]]
    cells += [("probe load", results["probes"]["load"])]
    for name, cell in cells:
        unexpected = {status: count for status, count in cell["statuses"].items() if status not in ("200", "503")}
        if unexpected:
            found.append(f"{name}: unexpected answers {unexpected} (0: no answer)")
        if cell["missing_cards"]:
            found.append(f"{name}: {cell['missing_cards']} answers without the expected cards "
                         f"({cell['incomplete']} cut short by the deadline: service.incomplete)")
        if not cell["ok"]:
            found.append(f"{name}: no 200 answer")
    found += [f"in-process {row['size']}: wrong cards" for row in results["stages"] if not row["cards_ok"]]
    found += [f"in-process scaling {row['observations']}: wrong cards" for row in results["scaling"]
              if not row["cards_ok"]]
    return found


def _load_rows(generator: LoadGenerator, options: Options, workers: int, service: Served, floor: Served,
               cases: list[Case], progress: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    for size in SIZES:
        for concurrency in CONCURRENCY:
            progress(f"{workers} worker(s): {size.name} c={concurrency} ...")
            floor_target = Target(floor.port, "/cds-services/floor", body(MAIN_CASE, size), frozenset({TOPIC}))
            base = generator.run(floor_target, concurrency, options.warmup_s, options.duration_s).summary()
            rows.append({"workers": workers, "server": "floor", "size": size.name, **base, "floor_share": 1.0})
            for case in cases:
                cell = _cell(generator, options, service.port, case, size, concurrency)
                share = cell["per_second"] / base["per_second"] if base["per_second"] else None
                rows.append({"workers": workers, "server": case.service, "size": size.name, **cell,
                             "floor_share": None if share is None else round(share, 3)})
    return rows


def _cell(generator: LoadGenerator, options: Options, port: int, case: Case, size: Size,
          concurrency: int) -> dict[str, Any]:
    return generator.run(_target(port, case, size), concurrency, options.warmup_s, options.duration_s).summary()


def _target(port: int, case: Case, size: Size) -> Target:
    return Target(port, f"/cds-services/{case.service}", body(case, size), case.expected)
