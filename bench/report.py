"""The results of `cds bench` as Markdown tables (ready to paste into the README)."""

from __future__ import annotations

from typing import Any

from bench.server import SERVICE_ENV

STAGES = {"body": "JSON parse of the body", "request": "CDS Hooks request validation",
          "queue": "wait for an evaluation slot", "fhir": "record: resources selected, FHIR models built",
          "facts": "facts: labs, orders, conditions", "engine": "rule engine", "cards": "cards built"}
GENERATOR_CORES_OK = 0.5   # the clients' CPU, summed: below this they leave the server its cores
TARGETS = [  # (what, size, measure, limit, at most): issue 12, 1 worker, c=1, b12-order-sign
    ("small p50 ≤ 5 ms", "small", "p50_ms", 5.0, True),
    ("small p99 ≤ 20 ms", "small", "p99_ms", 20.0, True),
    ("large p50 ≤ 25 ms", "large", "p50_ms", 25.0, True),
    ("small ≥ 60% of the floor", "small", "floor_share", 0.6, False),
    ("large ≥ 30% of the floor", "large", "floor_share", 0.3, False),
]


def markdown(results: dict[str, Any]) -> str:
    sections = [_header(results), *_load(results), _targets(results), _stages(results), _scaling(results),
                _probes(results), _problems(results)]
    return "\n\n".join(sections) + "\n"


def _header(results: dict[str, Any]) -> str:
    machine, options = results["machine"], results["options"]
    return "\n".join([
        "## Benchmark results (`cds bench`)",
        "",
        f"Run {machine['date']} on {machine['cpu']}, {machine['cores']} cores, {machine['system']}, "
        f"Python {machine['python']}; "
        f"commit {machine['commit']}; load average {machine['load_average_1min']} at the start, "
        f"{machine['load_average_1min_end']} at the end.",
        f"Load cells: closed loop on 127.0.0.1, keep-alive, one client process per connection, "
        f"{options['warmup_s']:g} s warm-up + {options['duration_s']:g} s measured each; the whole run took "
        f"{results['seconds']:.0f} s.",
        "Service settings: the defaults except "
        + ", ".join(f"{name}={value}" for name, value in results["service_env"].items())
        + f"; the bench sets {' and '.join(SERVICE_ENV)} so that 5,000 Observations fit.",
    ])


def _load(results: dict[str, Any]) -> list[str]:
    sections = []
    for workers in sorted({row["workers"] for row in results["load"]}):
        rows = [row for row in results["load"] if row["workers"] == workers]
        lines = [f"### Load: {workers} worker{'s' if workers > 1 else ''}", "",
                 "| service | size | c | req/s | p50 ms | p95 ms | p99 ms | answers | non-200 (503 shed) "
                 "| missing cards (incomplete) | of floor | client CPU ms/req |",
                 "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        lines += [f"| {row['server']} | {row['size']} | {row['concurrency']} | {_rate(row['per_second'])} "
                  f"| {_ms(row['p50_ms'])} | {_ms(row['p95_ms'])} | {_ms(row['p99_ms'])} | {row['ok']} "
                  f"| {row['not_ok']} ({row['shed_503']}) | {_missing(row)} | {_share(row['floor_share'])} "
                  f"| {row['generator_cpu_ms_per_request']:.2f} |" for row in rows]
        busiest = max(rows, key=lambda row: row["per_second"] * row["generator_cpu_ms_per_request"])
        cores = busiest["per_second"] * busiest["generator_cpu_ms_per_request"] / 1000
        verdict = ("not the bottleneck" if cores < GENERATOR_CORES_OK else
                   "it competes with the server for CPU: read the floor rows as a lower bound")
        lines += ["", f"Load generator: at most {cores:.2f} of a core busy ({busiest['server']} {busiest['size']} "
                      f"c={busiest['concurrency']}) of the machine's {results['machine']['cores']}: {verdict}."]
        sections.append("\n".join(lines))
    return sections


def _targets(results: dict[str, Any]) -> str:
    rows = {row["size"]: row for row in results["load"]
            if row["workers"] == 1 and row["concurrency"] == 1 and row["server"] == "b12-order-sign"}
    lines = ["### Targets (issue 12: 1 worker, c=1, b12-order-sign)", "",
             "| target | measured | met |", "|---|--:|---|"]
    for what, size, measure, limit, at_most in TARGETS:
        value = rows[size][measure]
        shown = _share(value) if measure == "floor_share" else f"{_ms(value)} ms"
        met = value is not None and (value <= limit if at_most else value >= limit)
        lines.append(f"| {what} | {shown} | {'yes' if met else 'no'} |")
    return "\n".join(lines)


def _stages(results: dict[str, Any]) -> str:
    by_size = {row["size"]: row for row in results["stages"]}
    sizes = list(by_size)
    stages = list(dict.fromkeys(stage for row in results["stages"] for stage in row["stages"]))
    lines = ["### Per-stage breakdown (in-process, b12-order-sign, median of "
             + ", ".join(f"{by_size[size]['calls']} {size}" for size in sizes) + " calls)", "",
             "| stage | what | " + " | ".join(f"{size} ms | {size} share" for size in sizes) + " |",
             "|---|---|" + "--:|--:|" * len(sizes)]
    for stage in stages:
        cells = []
        for size in sizes:
            found = by_size[size]["stages"].get(stage, {"ms": 0.0, "share": 0.0})
            cells.append(f"{_ms(found['ms'])} | {_share(found['share'])}")
        lines.append(f"| {stage} | {STAGES.get(stage, '')} | " + " | ".join(cells) + " |")
    lines.append("| total | | " + " | ".join(f"{_ms(by_size[size]['total_ms'])} | 100%" for size in sizes) + " |")
    return "\n".join(lines)


def _scaling(results: dict[str, Any]) -> str:
    lines = ["### Scaling (b12-order-sign, 5 MedicationRequests; in-process median and HTTP c=1, 1 worker)", "",
             "| Observations | body KB | in-process ms | of it JSON parse ms | ms per added Observation | HTTP p50 ms "
             "| HTTP missing cards (incomplete) |",
             "|--:|--:|--:|--:|--:|--:|--:|"]
    for row in results["scaling"]:
        added = row["ms_per_added_observation"]
        lines.append(f"| {row['observations']:,} | {row['body_kb']:,} | {_ms(row['ms'])} | {_ms(row['parse_ms'])} "
                     f"| {'–' if added is None else f'{added:.3f}'} | {_ms(row['http']['p50_ms'])} "
                     f"| {_missing(row['http'])} |")
    return "\n".join(lines)


def _probes(results: dict[str, Any]) -> str:
    probes = results["probes"]
    load = probes["load"]
    lines = [f"### Probes: idle vs {probes['concurrency']} large b12-order-sign requests in flight (1 worker)", "",
             "| path | idle p50 ms | idle p95 ms | idle max ms | busy p50 ms | busy p95 ms | busy max ms |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for path, phases in probes["paths"].items():
        idle, busy = phases["idle"], phases["busy"]
        lines.append(f"| {path} | {_ms(idle['p50_ms'])} | {_ms(idle['p95_ms'])} | {_ms(idle['p100_ms'])} "
                     f"| {_ms(busy['p50_ms'])} | {_ms(busy['p95_ms'])} | {_ms(busy['p100_ms'])} |")
    lines += ["", f"Large requests meanwhile: {load['ok']} answered (p50 {_ms(load['p50_ms'])} ms), "
                  f"{load['shed_503']} shed (503), {_missing(load)} without the expected cards (incomplete)."]
    return "\n".join(lines)


def _problems(results: dict[str, Any]) -> str:
    if not results["problems"]:
        return "### Checks\n\nEvery answer counted was 200 or a 503 (shed), and every 200 carried the expected cards."
    return "### Checks: PROBLEMS\n\n" + "\n".join(f"- {problem}" for problem in results["problems"])


def _missing(cell: dict[str, Any]) -> str:
    """Answers without the expected cards, and in parentheses those cut short by the deadline."""
    return f"{cell['missing_cards']} ({cell['incomplete']})"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"
