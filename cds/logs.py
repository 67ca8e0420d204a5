"""Logging: one line per event, as text or JSON (CDS_LOG_FORMAT) from CDS_LOG_LEVEL up, and every
line logged while a request is served carries its request id: the caller's `X-Request-ID` (a proxy's,
say) when it is a plain token, else one made here. The response echoes it in `X-Request-ID`."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any
from uuid import uuid4

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
HEADER = b"x-request-id"
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")   # anything else is replaced: logs stay one line, unforged
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


class RequestIdMiddleware:
    """ASGI: the request's id in REQUEST_ID while it is served, and in the response's headers."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(HEADER, b"").decode("latin-1")
        request_id = given if _PLAIN_ID.fullmatch(given) else uuid4().hex
        echoed = (HEADER, request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or "-") on each record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """A logging.config.dictConfig for the service and uvicorn's loggers (access log included)."""
    formatter = ({"()": "pythonjsonlogger.json.JsonFormatter", "fmt": JSON_FIELDS,
                  "rename_fields": {"levelname": "level", "name": "logger", "asctime": "time"}}
                 if log_format == "json" else {"format": TEXT})
    handler = {"class": "logging.StreamHandler", "formatter": "line", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"line": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {name: {"handlers": [], "propagate": True, "level": level.upper()}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
