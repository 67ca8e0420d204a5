"""The analytics console's pages: `/analytics` (every rule's figures) and `/analytics/rules/{id}` (one
rule), server-rendered with Jinja2 from cds.analytics' templates; charts are inline SVG and the
stylesheet is served from that package."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader
from sqlalchemy.exc import SQLAlchemyError

from cds.analytics import charts, view
from cds.analytics.period import BadQuery, analytics_query
from cds.analytics.watching import last_whole_day
from cds.api import deps
from cds.api.auth import require_analytics_token
from cds.api.errors import ApiError
from cds.rulebook.model import Rulebook

log = logging.getLogger(__name__)
T = TypeVar("T")
templates = Jinja2Templates(env=Environment(loader=PackageLoader("cds.analytics", "templates"), autoescape=True))
templates.env.filters.update(percent=view.percent, duration=view.duration)
router = APIRouter(prefix="/analytics", include_in_schema=False, dependencies=[Depends(require_analytics_token)])


class PageError(ApiError):
    """An error of a console page: answered as an HTML page (the filter form at its defaults, to try again)."""


def filters(since: str | None = None, until: str | None = None, service: str | None = None,
            pack_version: str | None = None) -> view.Filters:
    """The filter form as sent, read as the analytics API reads it; a bad date is a 400 page."""
    try:
        return view.Filters(analytics_query(since, until, service, pack_version))
    except BadQuery as error:
        raise PageError(400, "invalid analytics query", [{"field": error.field, "message": str(error)}]) from None


FiltersDep = Annotated[view.Filters, Depends(filters)]


def _form(rulebook: Rulebook, chosen: view.Filters) -> dict[str, object]:
    """What every console page shows of the filters."""
    versions = sorted({pack.version for pack in rulebook.packs.values()})
    return {"filters": chosen, "query_string": urlencode(chosen.fields()), "services": sorted(rulebook.services),
            "pack_versions": versions}


async def _read(request: Request, build: Callable[..., T], *args: Any) -> T:
    """What a page shows of the card log, read off the event loop (the store's queries block)."""
    try:
        return await deps.one_report_at_a_time(request, build, *args)
    except SQLAlchemyError:
        log.exception("could not read the card log for the analytics console")
        raise PageError(503, "card log unavailable: please retry") from None


@router.get("", response_class=HTMLResponse)
async def analytics_page(request: Request, rules: deps.RulesDep, chosen: FiltersDep,
                         source: deps.ReportSourceDep) -> HTMLResponse:
    """Every rule in scope with its figures and alarm, cards fired per day and override reasons per rule; the
    silent rules apart, with the cards they would have given."""
    report = await _read(request, source, chosen.query)
    rows = view.rule_rows(report, rules.rulebook)
    all_days = [day for row in rows for day in row.figures.firing_by_day]
    return templates.TemplateResponse(request, "analytics.html", {
        **_form(rules.rulebook, chosen), "rows": rows, "silent_rows": view.silent_rows(report, rules.rulebook),
        "alarms": [row for row in rows if row.figures.alarm], "alarms_as_of": report.alarms_as_of,
        "totals": {"fired": sum(r.figures.fired for r in rows), "accepted": sum(r.figures.accepted for r in rows),
                   "overridden": sum(r.figures.overridden for r in rows)},
        "firing_chart": charts.firing_chart(all_days, chosen.first, chosen.last, "Cards fired per day, all rules",
                                             width=charts.WIDTH * 2),
        "reason_charts": [(row, charts.reasons_chart(row.figures.top_override_reasons,
                                                     f"Override reasons for {row.figures.rule_id}"))
                          for row in rows if row.figures.overridden]})


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
async def rule_page(rule_id: str, request: Request, rules: deps.RulesDep, chosen: FiltersDep,
                    source: deps.ReportSourceDep) -> HTMLResponse:
    """One rule: its text, rationale, references, parameters, examples, its figures in the period and its
    control chart (daily cards against the limits its own history sets)."""
    rulebook = rules.rulebook
    rule = rulebook.rule(rule_id)
    if rule is None:
        raise PageError(404, f"unknown rule '{rule_id}'",
                        [{"field": "rule_id", "message": "not in the rules in force"}])
    report = await _read(request, source, chosen.query)
    figures = view.figures_of(report, rule_id)
    as_of = last_whole_day(chosen.query.until)
    watched = await _read(request, request.app.state.monitor.chart, rule_id, chosen.first, as_of)
    return templates.TemplateResponse(request, "rule.html", {
        **_form(rulebook, chosen), "rule": rule, "pack": rulebook.packs[rule.pack], "figures": figures,
        "source": f"{Path(rule.file).name}:{rule.line}",
        "parameters": rule.values,   # the values its conditions and text name, as the profile in force sets them
        "conditions": yaml.safe_dump([c.written for c in rule.when], sort_keys=False, allow_unicode=True),
        "reason_names": rulebook.override_reasons["codes"],
        "firing_chart": charts.firing_chart(figures.firing_by_day, chosen.first, chosen.last,
                                            f"Cards fired per day, {rule_id}"),
        "control_chart": charts.control_chart(watched.days if watched else [], chosen.first, as_of,
                                              f"Daily cards and control limits, {rule_id}"),
        "judged": watched is not None and watched.judged, "as_of": as_of,
        "reasons_chart": charts.reasons_chart(figures.top_override_reasons, f"Override reasons for {rule_id}")})


async def _error_page(request: Request, error: PageError) -> HTMLResponse:
    """A console page's error as a page of the console, the filter form at its defaults."""
    form = _form(request.app.state.runtime.current.rulebook, view.Filters(analytics_query()))
    return templates.TemplateResponse(request, "error.html", {**form, "error": error}, status_code=error.status,
                                      headers=error.headers)


def install(app: FastAPI) -> None:
    """The console's routes, and its stylesheet at /analytics/static (no patient data: open)."""
    app.include_router(router)
    app.add_exception_handler(PageError, _error_page)  # type: ignore[arg-type]
    app.mount("/analytics/static", StaticFiles(packages=[("cds.analytics", "static")]), name="analytics-static")
