"""FastAPI dependencies (async: FastAPI runs a plain `def` dependency in the thread pool, a thread hop
per dependency per request): the rules in force, the feedback store, settings, the service, the body and the
analytics reports."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from cds.analytics.annotate import annotated_report
from cds.analytics.figures import AnalyticsQuery, AnalyticsReport
from cds.api.admission import Admission
from cds.api.body import BadBody, check_depth, decode_json
from cds.api.errors import ApiError
from cds.api.instances import HookInstanceWatch
from cds.config import Settings
from cds.generation import LoadedRules
from cds.metrics import REQUESTS
from cds.rulebook.model import Service
from cds.runtime import RuleRuntime
from cds.store.cardlog import CardLogWriter
from cds.store.feedback import FeedbackStore

PARSE_INLINE_BYTES = 64 * 1024   # larger bodies are parsed off the event loop
T = TypeVar("T")
ReportSource = Callable[[AnalyticsQuery], AnalyticsReport]


async def runtime(request: Request) -> RuleRuntime:
    return request.app.state.runtime


async def rules(request: Request) -> AsyncIterator[LoadedRules]:
    """The rule generation this request runs on start to end: a reload does not change it, nor free it
    before the request is done."""
    with request.app.state.runtime.lease() as leased:
        yield leased


async def settings(request: Request) -> Settings:
    return request.app.state.settings


async def store(request: Request) -> FeedbackStore:
    return request.app.state.feedback


async def card_log(request: Request) -> CardLogWriter:
    return request.app.state.card_log


async def service(service_id: str, request: Request) -> Service:
    """The service the path names, or 404."""
    found = request.app.state.runtime.current.rulebook.services.get(service_id)
    if found is None:
        REQUESTS.labels("(unknown)", "404").inc()
        raise ApiError(404, f"unknown service '{service_id}'",
                       [{"field": "service_id", "message": "not in GET /cds-services"}])
    return found


async def json_body(request: Request) -> Any:
    """The decoded JSON body, read within the limits (cds.api.limits) and checked (cds.api.body); a
    large one is decoded in a worker thread so the loop stays free."""
    raw = await request.app.state.body_reader.read(request)
    request.state.raw_body = raw
    request.state.body_bytes = len(raw)
    try:
        return _decoded(raw) if len(raw) <= PARSE_INLINE_BYTES else await run_in_threadpool(_decoded, raw)
    except BadBody as error:
        raise ApiError(400, str(error), [{"field": "(body)", "message": str(error)}]) from None


def _decoded(raw: bytes) -> Any:
    body = decode_json(raw)
    check_depth(body)
    return body


async def one_report_at_a_time(request: Request, build: Callable[..., T], *args: Any) -> T:
    """Run an analytics report in a worker thread, one at a time per worker process: reports queue
    behind each other rather than share the cores with every other report and with the calls."""
    return await to_thread.run_sync(build, *args, limiter=request.app.state.report_slot)


async def hook_instances(request: Request) -> HookInstanceWatch:
    return request.app.state.hook_instances


async def evaluations(request: Request) -> Admission:
    """Rule evaluations run this many at a time (settings.evaluation_slots): CPU-bound work beyond
    the cores only contends for the GIL, and would starve the event loop and its probes."""
    return request.app.state.evaluations


async def arrival(request: Request) -> float:
    """When the request arrived (monotonic): its deadline counts from here, time queued included."""
    return request.scope.get("state", {}).get("arrived", time.monotonic())


RuntimeDep = Annotated[RuleRuntime, Depends(runtime)]
RulesDep = Annotated[LoadedRules, Depends(rules)]
SettingsDep = Annotated[Settings, Depends(settings)]
StoreDep = Annotated[FeedbackStore, Depends(store)]
CardLogDep = Annotated[CardLogWriter, Depends(card_log)]
ServiceDep = Annotated[Service, Depends(service)]
BodyDep = Annotated[Any, Depends(json_body)]
ArrivalDep = Annotated[float, Depends(arrival)]
EvaluationsDep = Annotated[Admission, Depends(evaluations)]
HookInstancesDep = Annotated[HookInstanceWatch, Depends(hook_instances)]


async def report_source(request: Request, store: StoreDep, rules: RulesDep) -> ReportSource:
    """Builds analytics reports from the card log in the service's store, with the firing alarms and the names
    of override reasons (tests may override this dependency)."""
    return partial(annotated_report, store.engine, judge=request.app.state.monitor.alarms, rulebook=rules.rulebook)


ReportSourceDep = Annotated[ReportSource, Depends(report_source)]
