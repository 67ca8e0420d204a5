"""The analytics API: per rule, how often its cards fired and how clinicians answered them."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from cds.analytics.export import report_json
from cds.analytics.figures import AnalyticsReport
from cds.analytics.period import BadQuery, analytics_query
from cds.api import deps
from cds.api.auth import require_analytics_token
from cds.api.errors import ApiError, responses

log = logging.getLogger(__name__)
router = APIRouter(tags=["Analytics"])

Since = Annotated[str | None, Query(description="First day or moment, ISO 8601 (a date means its midnight UTC; "
                                                "default: 30 days before until)", examples=["2026-11-01"])]
Until = Annotated[str | None, Query(description="Last day (included) or moment (excluded), ISO 8601 "
                                                "(default: now)", examples=["2026-11-30"])]


@router.get("/analytics/api/rules", response_model=AnalyticsReport, responses=responses(400, 401, 503),
            dependencies=[Depends(require_analytics_token)])
async def rule_figures(request: Request, source: deps.ReportSourceDep, since: Since = None, until: Until = None,
                       service: Annotated[str | None, Query(description="Only this service's cards")] = None,
                       pack_version: Annotated[str | None, Query(description="Only cards of this pack version")]
                       = None) -> JSONResponse:
    """Per rule that fired in the period: cards fired, distinct patients (keyed hashes), accepted and
    overridden (counts, and shares of the cards fired), top override reasons (a reason sent without its
    display named from the rules' catalogue), median seconds from issue to the first feedback, and firing
    per UTC day; cards of silent rules apart (silent_fired, silent_patients); and each live rule's firing
    alarm as of the period's last whole day (`alarm`, null when its firing is within its limits or could not
    be judged: `alarm_judged` false when the rule is too rare or too new, null when it was not live; a rule
    that stopped is listed with no card). `cds analytics export` prints the same."""
    try:
        query = analytics_query(since, until, service, pack_version)
    except BadQuery as error:
        raise ApiError(400, "invalid analytics query", [{"field": error.field, "message": str(error)}]) from None
    try:
        report = await deps.one_report_at_a_time(request, source, query)
    except SQLAlchemyError:
        log.exception("could not read the card log for analytics")
        raise ApiError(503, "card log unavailable: please retry") from None
    return JSONResponse(report_json(report))
