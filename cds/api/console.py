"""The analytics console's pages: `/analytics` (every rule's figures) and `/analytics/rules/{id}` (one
rule), server-rendered with Jinja2 from cds.analytics' templates; charts are inline SVG and the
stylesheet is served from that package."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader
from sqlalchemy.exc import SQLAlchemyError

from cds.analytics import charts, view
from cds.analytics.figures import AnalyticsQuery, AnalyticsReport
from cds.analytics.period import BadQuery, analytics_query
from cds.analytics.queries import build_report
from cds.api import deps
from cds.api.auth import require_analytics_token
from cds.api.errors import ApiError
from cds.rulebook.model import Rulebook

log = logging.getLogger(__name__)
ReportSource = Callable[[AnalyticsQuery], AnalyticsReport]

templates = Jinja2Templates(env=Environment(loader=PackageLoader("cds.analytics", "templates"), autoescape=True))
templates.env.filters.update(percent=view.percent, duration=view.duration)
router = APIRouter(prefix="/analytics", include_in_schema=False, dependencies=[Depends(require_analytics_token)])


def report_source(store: deps.StoreDep) -> ReportSource:
    """Builds reports from the card log in the service's store (tests may override this dependency)."""
    return partial(build_report, store.engine)


def filters(since: str | None = None, until: str | None = None, service: str | None = None,
            pack_version: str | None = None) -> view.Filters:
    """The filter form as sent, read as the analytics API reads it; a bad date is a 400 in the error shape."""
    try:
        return view.Filters(analytics_query(since, until, service, pack_version))
    except BadQuery as error:
        raise ApiError(400, "invalid analytics query", [{"field": error.field, "message": str(error)}]) from None


FiltersDep = Annotated[view.Filters, Depends(filters)]
ReportSourceDep = Annotated[ReportSource, Depends(report_source)]


async def _page_data(request: Request, rulebook: Rulebook, chosen: view.Filters,
                     source: ReportSource) -> tuple[AnalyticsReport, dict[str, object]]:
    """The report for the filters (built off the event loop: the store's queries block), and what every
    console page shows of the filters."""
    try:
        report = await deps.one_report_at_a_time(request, source, chosen.query)
    except SQLAlchemyError:
        log.exception("could not read the card log for the analytics console")
        raise ApiError(503, "card log unavailable: please retry") from None
    versions = sorted({pack.version for pack in rulebook.packs.values()})
    return report, {"filters": chosen, "query_string": urlencode(chosen.fields()),
                    "services": sorted(rulebook.services), "pack_versions": versions}


@router.get("", response_class=HTMLResponse)
async def analytics_page(request: Request, rules: deps.RulesDep, chosen: FiltersDep,
                         source: ReportSourceDep) -> HTMLResponse:
    """Every rule in scope with its figures, cards fired per day and override reasons per rule."""
    report, common = await _page_data(request, rules.rulebook, chosen, source)
    rows = view.rule_rows(report, rules.rulebook)
    all_days = [day for row in rows for day in row.figures.firing_by_day]
    return templates.TemplateResponse(request, "analytics.html", {
        **common, "rows": rows,
        "totals": {"fired": sum(r.figures.fired for r in rows), "accepted": sum(r.figures.accepted for r in rows),
                   "overridden": sum(r.figures.overridden for r in rows)},
        "firing_chart": charts.firing_chart(all_days, chosen.first, chosen.last, "Cards fired per day, all rules",
                                             width=charts.WIDTH * 2),
        "reason_charts": [(row, charts.reasons_chart(row.figures.top_override_reasons,
                                                     f"Override reasons for {row.figures.rule_id}"))
                          for row in rows if row.figures.overridden]})


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
async def rule_page(rule_id: str, request: Request, rules: deps.RulesDep, chosen: FiltersDep,
                    source: ReportSourceDep) -> HTMLResponse:
    """One rule: its text, rationale, references, parameters, examples and its figures in the period."""
    rulebook = rules.rulebook
    rule = rulebook.rule(rule_id)
    if rule is None:
        raise ApiError(404, f"unknown rule '{rule_id}'", [{"field": "rule_id", "message": "not in the rules in force"}])
    report, common = await _page_data(request, rulebook, chosen, source)
    figures = view.figures_of(report, rule_id)
    return templates.TemplateResponse(request, "rule.html", {
        **common, "rule": rule, "pack": rulebook.packs[rule.pack], "figures": figures,
        "source": f"{Path(rule.file).name}:{rule.line}",
        "parameters": rule.values,   # the values its conditions and text name, as the profile in force sets them
        "conditions": yaml.safe_dump([c.written for c in rule.when], sort_keys=False, allow_unicode=True),
        "reason_names": rulebook.override_reasons["codes"],
        "firing_chart": charts.firing_chart(figures.firing_by_day, chosen.first, chosen.last,
                                            f"Cards fired per day, {rule_id}"),
        "reasons_chart": charts.reasons_chart(figures.top_override_reasons, f"Override reasons for {rule_id}")})


def install(app: FastAPI) -> None:
    """The console's routes, and its stylesheet at /analytics/static (no patient data: open)."""
    app.include_router(router)
    app.mount("/analytics/static", StaticFiles(packages=[("cds.analytics", "static")]), name="analytics-static")
