"""The `cds` command: run the service and work with rule files."""

from __future__ import annotations

import gc
import inspect
import json
import logging
import logging.config
import os
import sys
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cds import BUNDLED_RULES
from cds.config import Settings, setting_source, settings_table, shown_default, shown_value
from cds.rulebook import RulebookError, Service
from cds.rulebook.profiles import DEFAULT_PROFILE

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cds.engine.explain import RuleReport
    from cds.generation import LoadedRules
    from cds.rulebook.model import Rule
    from cds.runtime import RuleRuntime

app = typer.Typer(help="Cobalt CDS: CDS Hooks service for vitamin B12 injection therapy.", no_args_is_help=True)
rules_app = typer.Typer(help="Validate, list, test and explain rule files.", no_args_is_help=True)
fixtures_app = typer.Typer(help="Work with request fixtures.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(fixtures_app, name="fixtures")
analytics_app = typer.Typer(help="Card-log analytics.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")

RulesDir = Annotated[Path, typer.Argument(help="Rules directory.")]
ProfileOption = Annotated[str, typer.Option(help="Site profile (rules/profiles/<name>.yaml) to load the rules under.")]
AllowUntested = Annotated[bool, typer.Option("--allow-untested", help="Load rules without an example that fires "
                                                                      "and one that stays quiet (drafts).")]
VETTED_RULES = "CDS_INTERNAL_VETTED_RULES"  # digest of the rules whose examples `cds serve` ran before its workers


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"


class TestFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


class FactsFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _flag(name: str, *declarations: str, **options: Any) -> Any:
    """The option of setting `name`: its meaning, variable and default from Settings (None when not given)."""
    field = Settings.model_fields[name]
    return typer.Option(*declarations, help=f"{field.description} (env CDS_{name.upper()})",
                        show_default=shown_default(field.default), **options)


def _serve_flags(
    host: Annotated[str | None, _flag("host")] = None,
    port: Annotated[int | None, _flag("port")] = None,
    rules: Annotated[Path | None, _flag("rules")] = None,
    reload_rules: Annotated[bool | None, _flag("reload_rules", "--reload-rules")] = None,
    reload_skip_examples: Annotated[bool | None, _flag("reload_skip_examples", "--reload-skip-examples")] = None,
    auth: Annotated[str | None, _flag("auth")] = None,
    issuers: Annotated[Path | None, _flag("issuers")] = None,
    public_url: Annotated[str | None, _flag("public_url")] = None,
    workers: Annotated[int | None, _flag("workers", min=1)] = None,
    profile: Annotated[str | None, _flag("profile")] = None,
    fhir_servers: Annotated[str | None, _flag("fhir_servers")] = None,
    cors_origins: Annotated[str | None, _flag("cors_origins")] = None,
    forwarded_allow_ips: Annotated[str | None, _flag("forwarded_allow_ips")] = None,
    log_format: Annotated[str | None, _flag("log_format")] = None,
    log_level: Annotated[str | None, _flag("log_level")] = None,
) -> None:
    """The settings `cds serve` (and `cds config`) take as flags; the others come from CDS_* only."""


SERVE_FLAGS = {name: "--" + name.replace("_", "-") for name in inspect.signature(_serve_flags).parameters}


def _with_serve_flags(command: Callable[..., None]) -> Callable[..., None]:
    """`command(**flags, ...)` taking its own options and the serve flags (a flag not given is None)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is p.KEYWORD_ONLY]
    flags = list(inspect.signature(_serve_flags, eval_str=True).parameters.values())
    command.__signature__ = inspect.Signature([*flags, *own])  # type: ignore[attr-defined]
    command.__annotations__ = {**_serve_flags.__annotations__, **command.__annotations__}
    return command


def _settings_or_exit(flags: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """Settings from the given flags over CDS_* over defaults, and the flags given; exit 2 naming a bad one."""
    from pydantic import ValidationError

    overrides = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**overrides), overrides
    except ValidationError as error:
        for item in error.errors():
            typer.echo(f"setting {'.'.join(map(str, item['loc']))}: {item['msg']}", err=True)
        raise typer.Exit(2) from None


@app.command()
@_with_serve_flags
def serve(**flags: Any) -> None:
    """Start the CDS Hooks service."""
    import uvicorn

    from cds.connections import raise_open_file_limit, run_workers, server_options
    from cds.logs import log_config
    from cds.metrics import shared_by_workers

    settings, overrides = _settings_or_exit(flags)
    logs = log_config(settings.log_format, settings.log_level)
    logging.config.dictConfig(logs)
    logging.getLogger("cds").info("open-file limit: %d", raise_open_file_limit())
    service = _worker_app_or_exit(settings, watch=settings.workers == 1)  # and the set-up is checked before workers
    logging.getLogger("cds").info("%s", start_summary(settings, service.state.runtime))
    if settings.workers == 1:
        uvicorn.run(service, host=settings.host, port=settings.port, log_config=logs, log_level=settings.log_level,
                    proxy_headers=False, **server_options(settings.header_timeout_s))  # forwarded headers: cds.api.app
    else:  # the worker processes read their settings from the environment (this process's stays untouched before)
        os.environ.update({f"CDS_{name.upper()}": str(value) for name, value in overrides.items()})
        os.environ[VETTED_RULES] = service.state.runtime.current.rulebook.digest  # workers need not rerun examples
        del service
        with shared_by_workers():
            run_workers("cds.cli:worker_app", settings.workers, settings.host, settings.port,
                        {**server_options(settings.header_timeout_s), "log_config": logs})


@app.command("config")
@_with_serve_flags
def config(*, table: Annotated[bool, typer.Option("--table", help="Print every setting as the README's Markdown "
                                                                   "table (variable, flag, default, meaning).")]
           = False, **flags: Any) -> None:
    """Print the settings `cds serve` would run with (same flags), each with where it came from:
    flag, env (CDS_*) or default."""
    if table:
        typer.echo(settings_table(SERVE_FLAGS), nl=False)
        return
    settings, overrides = _settings_or_exit(flags)
    rows = [(f"CDS_{name.upper()}", shown_value(settings, name), setting_source(name, overrides))
            for name in Settings.model_fields]
    for line in _columns([("SETTING", "VALUE", "FROM"), *rows]):
        typer.echo(line)


def start_summary(settings: Settings, runtime: RuleRuntime) -> str:
    """One line saying what `cds serve` is about to serve, and how."""
    rulebook = runtime.current.rulebook
    checked = f"rule examples: {runtime.examples}" if runtime.check_examples else "rule examples NOT checked"
    watching = f"watching {settings.rules} for changes" if settings.reload_rules else "not watching the rules"
    return (f"serving {len(rulebook.rules())} rules in {len(rulebook.packs)} packs ({rulebook.digest}) under the "
            f"{rulebook.profile} profile, {checked}; "
            f"store {shown_value(settings, 'database_url')}; auth {settings.auth}; {watching}; "
            f"{settings.workers} worker(s) on http://{settings.host}:{settings.port}")


def worker_app() -> FastAPI:
    """The app of one `cds serve` worker process, configured from the CDS_* environment."""
    from cds.metrics import worker_started

    worker_started()
    return _worker_app_or_exit(Settings(), watch=True, vetted_digest=os.environ.get(VETTED_RULES))


def _worker_app_or_exit(settings: Settings, watch: bool, vetted_digest: str | None = None) -> FastAPI:
    """Rules loaded (and watched, with reload_rules), feedback store migrated, app built; exit 2 saying
    which part of the set-up is unusable."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cds import log_hygiene
    from cds.api import create_app
    from cds.auth.issuers import AuthConfigError
    from cds.patient_hash import patient_hasher
    from cds.runtime import RuleRuntime, watch_rules

    if settings.reload_skip_examples:
        logging.getLogger("cds").warning("RULE EXAMPLES ARE NOT CHECKED (--reload-skip-examples): rules in %s go "
                                         "live even if their own examples fail", settings.rules)
    try:
        runtime = RuleRuntime(settings.rules, check_examples=not settings.reload_skip_examples,
                              vetted_digest=vetted_digest, profile=settings.profile)
    except RulebookError as error:
        typer.echo(f"rules in {settings.rules} are invalid:\n{error}", err=True)
        raise typer.Exit(2) from None
    try:
        service = create_app(settings, runtime)
    except SQLAlchemyError as error:
        url = make_url(settings.feedback_url()).render_as_string(hide_password=True)
        typer.echo(f"feedback store {url} is unusable: {_first_line(error)}", err=True)
        raise typer.Exit(2) from None
    except AuthConfigError as error:
        typer.echo(f"cannot turn on JWT authentication: {error}", err=True)
        raise typer.Exit(2) from None
    except OSError as error:  # the data directory (SQLite store, patient-hash key) cannot be made or written
        typer.echo(f"data directory {settings.data_dir} is unusable: {error.strerror or error}", err=True)
        raise typer.Exit(2) from None
    log_hygiene.install(patient_hasher(settings))   # after create_app: the data directory is known to be usable
    if watch and settings.reload_rules:
        threading.Thread(target=watch_rules, args=(runtime,), daemon=True, name="rule-watcher").start()
    gc.freeze()  # the rules, models and tables loaded so far are permanent: keep them out of every GC pass
    return service


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Tiny counts: a smoke test, not a measurement.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker count of the scale-out rows (1: none).")] = 2,
    warmup: Annotated[float, typer.Option(min=0, help="Warm-up seconds per load cell.")] = 1.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Measured seconds per load cell.")] = 5.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON here.")] = None,
) -> None:
    """Benchmark the service on 127.0.0.1 against a bare FastAPI floor; print Markdown tables.
    Exit 1 if an answer was wrong (not 200 or 503, or without the expected cards)."""
    from bench.report import markdown
    from bench.run import Options, run

    options = Options.quick(workers) if quick else Options(workers, warmup_s=warmup, duration_s=duration)
    results = run(options, lambda message: typer.echo(message, err=True))
    typer.echo(markdown(results), nl=False)
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if results["problems"]:
        raise typer.Exit(1)


@rules_app.command("check")
def check(directory: RulesDir = BUNDLED_RULES, profile: ProfileOption = DEFAULT_PROFILE,
          allow_untested: AllowUntested = False) -> None:
    """Validate rule files; exit 1 listing every error (file:line [rule] message)."""
    from cds.generation import load

    try:
        rulebook = load(directory, profile, allow_untested).rulebook  # compiled too: what the engine refuses fails here
    except RulebookError as error:
        for item in error.errors:
            typer.echo(str(item), err=True)
        typer.echo(f"{len(error.errors)} error(s)", err=True)
        raise typer.Exit(1) from None
    for warning in rulebook.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"ok: {len(rulebook.packs)} packs, {len(rulebook.rules())} rules, "
               f"{len(rulebook.services)} services, profile {rulebook.profile} (digest {rulebook.digest})")


@rules_app.command("list")
def list_rules(directory: RulesDir = BUNDLED_RULES, profile: ProfileOption = DEFAULT_PROFILE) -> None:
    """Rule ids, modes (live or silent), indicators, hooks and titles, in columns."""
    rows = [(rule.id, rule.mode, rule.indicator, ",".join(rule.hooks), rule.title)
            for rule in _load_or_exit(directory, profile).rulebook.rules()]
    for line in _columns([("RULE", "MODE", "INDICATOR", "HOOKS", "TITLE"), *rows]):
        typer.echo(line)


@rules_app.command("test")
def test(
    directory: RulesDir = BUNDLED_RULES,
    profile: ProfileOption = DEFAULT_PROFILE,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only this rule's examples (repeatable).")] = None,
    pattern: Annotated[str | None, typer.Option("-k", help="Only examples whose rule id or fixture contains this "
                                                           "(ignoring case; * ? [] are wildcards).")] = None,
    output: Annotated[TestFormat, typer.Option("--format", help="text, json, or junit (JUnit XML for CI).")]
    = TestFormat.text,
    allow_untested: AllowUntested = False,
) -> None:
    """Run the examples each rule carries under a site profile (those naming another profile are left
    out); a failure is shown at its file:line with the trace of its rule. Exit 1 if any fails."""
    from cds.ruletests import run_rule_tests, selected, trace
    from cds.testreport import json_report, junit_xml, text_lines

    rules = _load_or_exit(directory, profile, allow_untested)
    examples = selected(rules.rulebook, [_rule_or_exit(rules, rule_id) for rule_id in rule or ()], pattern)
    if not examples:
        typer.echo("no examples selected", err=True)
        raise typer.Exit(1)
    results = [(result, None if result.passed else trace(rules, result)) for result in run_rule_tests(rules, examples)]
    if output is TestFormat.json:
        typer.echo(json.dumps(json_report(results), indent=2, default=str))
    elif output is TestFormat.junit:
        typer.echo(junit_xml(results), nl=False)
    else:
        typer.echo("\n".join(text_lines(results)))
    if not all(result.passed for result, _ in results):
        raise typer.Exit(1)


@rules_app.command("facts")
def facts(
    fact_type: Annotated[str | None, typer.Argument(help="Only this fact type.")] = None,
    output: Annotated[FactsFormat, typer.Option("--format", help="text, json, or markdown (docs/facts.md).")]
    = FactsFormat.text,
) -> None:
    """Every fact type and field rules may test: type, unit, allowed values, meaning."""
    from cds.facts.catalogue import as_json, catalogue
    from cds.facts.reference import HEADER, markdown, rows
    from cds.rulebook.checks import closest

    specs = catalogue()
    if fact_type is not None and fact_type not in specs:
        typer.echo(f"no fact type '{fact_type}' ({closest(fact_type, set(specs)) or 'one of: ' + ', '.join(specs)})",
                   err=True)
        raise typer.Exit(2)
    chosen = [specs[fact_type]] if fact_type else list(specs.values())
    if output is FactsFormat.json:
        everything = as_json()
        typer.echo(json.dumps({spec.name: everything[spec.name] for spec in chosen}, indent=2))
    elif output is FactsFormat.markdown:
        typer.echo(markdown(), nl=False)
    else:
        for spec in chosen:
            typer.echo(f"{spec.name} ({spec.count}): {spec.meaning}")
            for line in _columns([HEADER, *rows(spec)]):
                typer.echo(f"  {line}")
            typer.echo("")


class DiffFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


@rules_app.command("diff")
def diff(
    base: Annotated[str, typer.Option(help="The rules to compare with: a directory, or a git revision (HEAD, main, "
                                           "a tag) of the repository holding --rules.")],
    corpus: Annotated[str, typer.Option(help="A directory of CDS Hooks requests (fixtures included), 'recorded' "
                                             "(the evaluations recorded in the service's store: CDS_DATABASE_URL, "
                                             "else CDS_DATA_DIR), or a store's database URL.")],
    directory: Annotated[Path, typer.Option("--rules", help="The edited rules directory.")] = BUNDLED_RULES,
    profile: ProfileOption = DEFAULT_PROFILE,
    service: Annotated[list[str] | None, typer.Option(help="Run request files through this service only "
                                                           "(repeatable) [default: every service of their hook].")]
    = None,
    since: Annotated[str | None, typer.Option(help="Recorded corpus: first day or moment, ISO 8601 (default: 30 "
                                                   "days before until).")] = None,
    until: Annotated[str | None, typer.Option(help="Recorded corpus: last day (included) or moment, ISO 8601 "
                                                   "(default: now).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Recorded corpus: the newest this many evaluations.")] = 10_000,
    examples: Annotated[int, typer.Option(min=0, help="Example evaluations named per rule and change.")] = 5,
    output: Annotated[DiffFormat, typer.Option("--format", help="text, markdown or json.")] = DiffFormat.text,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when a card changed (for CI).")] = False,
    allow_untested: AllowUntested = False,
) -> None:
    """Impact preview: evaluate the base and the edited rules on the same corpus and report, per rule, cards
    fired and patients before and after, cards appearing and disappearing, indicator and mode changes, with
    example requests (paths or evaluation ids, never patient data). The base is what it is: its rules load
    without the examples a rule now needs. Exit 2 on a base, rules or corpus that cannot be used."""
    from datetime import UTC, datetime

    from cds.impact import report
    from cds.impact.base import BaseError, base_rules
    from cds.impact.compare import compare
    from cds.impact.corpus import CorpusError
    from cds.impact.evaluate import evaluate

    now = datetime.now(UTC)
    edited = _load_or_exit(directory, profile, allow_untested, exit_code=2, what="edited rules")
    try:
        with base_rules(base, directory) as base_directory:
            old = _load_or_exit(base_directory, profile, allow_untested=True, exit_code=2, what=f"base rules ({base})")
        chosen = _corpus_or_exit(corpus, since, until, limit, now)
    except (BaseError, CorpusError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    hooks = {s.hook for book in (old.rulebook, edited.rulebook) for s in book.services.values()}
    services = {hook: sorted({s.id for book in (old.rulebook, edited.rulebook) for s in book.services.values()
                              if s.hook == hook and (not service or s.id in service)}) for hook in hooks}
    impact = compare(old.rulebook, edited.rulebook, chosen, evaluate(old, chosen, services, now),
                     evaluate(edited, chosen, services, now), examples)
    impact.base = base
    render = {DiffFormat.text: report.as_text, DiffFormat.markdown: report.as_markdown, DiffFormat.json: report.as_json}
    typer.echo(render[output](impact), nl=False)
    if exit_code and impact.moved:
        raise typer.Exit(1)


def _corpus_or_exit(source: str, since: str | None, until: str | None, limit: int, now: Any) -> Any:
    """The corpus `cds rules diff --corpus` names: a directory, the service's store ('recorded') or a URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cds.analytics.period import BadQuery, analytics_query
    from cds.impact.corpus import read_directory, read_recorded
    from cds.store.database import StoreNotCurrent
    from cds.store.feedback import FeedbackStore

    if source != "recorded" and "://" not in source:
        return read_directory(Path(source), now)
    url = Settings().feedback_url() if source == "recorded" else source
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        period = analytics_query(since, until, now=now)
    except BadQuery as error:
        typer.echo(f"--{error.field}: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        return read_recorded(FeedbackStore(url, migrate=False).engine, period.since, period.until, limit, shown)
    except (SQLAlchemyError, StoreNotCurrent) as error:
        typer.echo(f"cannot read recorded evaluations from {shown}: {_first_line(error)}", err=True)
        raise typer.Exit(2) from None


@rules_app.command("explain")
def explain(
    request: Annotated[Path, typer.Argument(help="Request JSON (a fixture or a real request).")],
    service: Annotated[str | None, typer.Option(help="Service id [default: every service for the request's "
                                                     "hook].")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="text or json.")] = ReportFormat.text,
    directory: Annotated[Path, typer.Option("--rules", help="Rules directory.")] = BUNDLED_RULES,
    profile: ProfileOption = DEFAULT_PROFILE,
    allow_untested: AllowUntested = False,
) -> None:
    """For every rule of the service (or one): fired or not, and which condition held or failed, on which
    fact values."""
    from cds.explainview import report_data, report_lines
    from cds.fixtures import render_fixture

    rules = _load_or_exit(directory, profile, allow_untested)
    chosen = _rule_or_exit(rules, rule) if rule else None
    try:
        hook = render_fixture(request).get("hook")
    except Exception as error:  # an unreadable request: say why in one line
        typer.echo(f"cannot explain {request}: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(2) from None
    services = ([rules.rulebook.services[service]] if service in rules.rulebook.services
                else [] if service else [s for s in rules.rulebook.services.values() if s.hook == hook
                                         and (chosen is None or chosen.pack in s.packs)])
    if not services:
        typer.echo(f"unknown service {service!r}" if service else f"no service answers hook {hook!r}"
                   + (f" with rule {rule}" if rule else ""), err=True)
        raise typer.Exit(2)
    explained = [(each, _explain_service(rules, request, each, chosen)) for each in services]
    if output is ReportFormat.json:
        typer.echo(json.dumps([{"service": each.id, "hook": each.hook, "rules": [report_data(r) for r in reports]}
                               for each, reports in explained], indent=2, default=str))
        return
    for each, reports in explained:
        typer.echo(f"== {each.id} ({each.hook}): {each.title}")
        for report in reports:
            typer.echo("\n".join(report_lines(report)))


def _explain_service(rules: LoadedRules, request: Path, service: Service, only: Rule | None) -> list[RuleReport]:
    """Each rule `service` runs on its hook (or `only` that one): fired or quiet, each condition with the facts
    it saw."""
    from cds.engine.explain import explain_rules
    from cds.ruletests import call_fixture

    try:
        outcome = call_fixture(rules, request, service.id)
    except Exception as error:  # a request that does not fit the service: say why in one line
        typer.echo(f"cannot explain {request}: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(2) from None
    packs = [rules.rulebook.packs[name] for name in service.packs]
    candidates = [(rule, pack.parameters) for pack in packs for rule in pack.rules
                  if service.hook in rule.hooks and (only is None or rule.id == only.id)]
    return explain_rules(candidates, outcome.facts.engine_facts())


@fixtures_app.command("render")
def render(fixture: Annotated[Path, typer.Argument(help="Request fixture file.")]) -> None:
    """Print the concrete request a fixture stands for (patient data merged, dates shifted)."""
    from cds.fixtures import render_fixture

    json.dump(render_fixture(fixture), sys.stdout, indent=2)
    sys.stdout.write("\n")


@fixtures_app.command("new")
def new_fixture(
    output: Annotated[Path, typer.Argument(help="The request file to write (its name names its ids).")],
    patient: Annotated[str, typer.Option(help="The patient: sex and age, e.g. 'female 67'.")] = "",
    draft: Annotated[list[str] | None, typer.Option(help="A B12 draft (repeatable): PRODUCT DOSE mcg|mg ROUTE "
                                                         "[every [N] d|wk|mo] [xCOUNT], e.g. "
                                                         "'cyanocobalamin_injection 1 mg im every 1 mo'.")] = None,
    lab: Annotated[list[str] | None, typer.Option(help="A lab result (repeatable): KIND=VALUE[@DAYSd] in the kind's "
                                                       "canonical unit, e.g. b12_total=95@10d.")] = None,
    finding: Annotated[list[str] | None, typer.Option(help="A value set of valuesets.yaml the record matches "
                                                           "(repeatable), e.g. neuro_findings.")] = None,
    hook: Annotated[str, typer.Option(help="order-sign, order-select, medication-prescribe or patient-view.")]
    = "order-sign",
    directory: Annotated[Path, typer.Option("--rules", help="Rules directory (products, codes).")] = BUNDLED_RULES,
) -> None:
    """Write a request fixture from a short description: a patient, B12 drafts, labs and findings as FHIR."""
    from cds.rulebook import load_rulebook
    from cds.scaffold import ScaffoldError, new_request

    try:
        rulebook = load_rulebook(directory, allow_untested=True)
        request = new_request(rulebook, output.stem, patient, draft or [], lab or [], finding or [], hook)
    except (RulebookError, ScaffoldError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    output.write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {output}: `cds rules explain {output}` shows what the rules make of it")


@analytics_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help="First day (or moment), ISO 8601 (default: 30 days before "
                                                   "until, as on the console).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (included) or moment, ISO 8601 (default: now).")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service's cards.")] = None,
    pack_version: Annotated[str | None, typer.Option(help="Only cards of this pack version.")] = None,
    output: Annotated[ExportFormat, typer.Option("--format", help="csv (one row per rule) or json (the API's body).")]
    = ExportFormat.json,
) -> None:
    """Print the per-rule figures of GET /analytics/api/rules (firing alarms included), from the store `cds serve`
    uses (CDS_DATABASE_URL, else the SQLite file in CDS_DATA_DIR); override reasons are named from the rules
    it serves (CDS_RULES, CDS_PROFILE)."""
    from functools import partial

    from sqlalchemy.exc import SQLAlchemyError

    from cds.analytics.alarms import AlarmSettings
    from cds.analytics.annotate import annotated_report
    from cds.analytics.export import report_csv, report_json
    from cds.analytics.period import BadQuery, analytics_query
    from cds.analytics.watching import watch_rules
    from cds.rulebook import load_rulebook
    from cds.store.database import StoreNotCurrent
    from cds.store.feedback import FeedbackStore

    settings, _ = _settings_or_exit({})
    try:
        query = analytics_query(since, until, service, pack_version)
    except BadQuery as error:
        typer.echo(f"--{error.field.replace('_', '-')}: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        rulebook = load_rulebook(settings.rules, settings.profile)
    except RulebookError as error:
        typer.echo(f"override reasons not named, and no stopped rule shown under a filter: the rules in "
                   f"{settings.rules} are invalid ({len(error.errors)} error(s))", err=True)
        rulebook = None
    try:
        engine = FeedbackStore(settings.feedback_url(), migrate=False).engine
        report = annotated_report(engine, query, partial(watch_rules, engine, settings=AlarmSettings.of(settings)),
                                  rulebook)
    except StoreNotCurrent as error:
        typer.echo(f"cannot read the card log: {error}", err=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as error:
        typer.echo(f"cannot read the card log: {_first_line(error)}", err=True)
        raise typer.Exit(1) from None
    if output is ExportFormat.json:
        typer.echo(json.dumps(report_json(report), indent=2))
    else:
        typer.echo(report_csv(report), nl=False)


def _first_line(error: Exception) -> str:
    """The first line of what the database driver said."""
    return str(getattr(error, "orig", None) or error).splitlines()[0]


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines of left-aligned columns, each as wide as its widest cell, two spaces apart."""
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _rule_or_exit(rules: LoadedRules, rule_id: str) -> Rule:
    """The rule `rule_id`; exit 2 naming the closest id when there is none."""
    from cds.rulebook.checks import closest

    found = rules.rulebook.rule(rule_id)
    if found is None:
        known = {rule.id for rule in rules.rulebook.rules()}
        typer.echo(f"no rule '{rule_id}' ({closest(rule_id, known) or '`cds rules list` lists them'})", err=True)
        raise typer.Exit(2)
    return found


def _load_or_exit(directory: Path, profile: str, allow_untested: bool = False, exit_code: int = 1,
                  what: str | None = None) -> LoadedRules:
    from cds.generation import load

    try:
        return load(directory, profile, allow_untested)
    except RulebookError as error:
        typer.echo(f"{what} in {directory} are invalid:\n{error}" if what else str(error), err=True)
        raise typer.Exit(exit_code) from None


if __name__ == "__main__":
    app()
