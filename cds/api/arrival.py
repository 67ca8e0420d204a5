"""Stamps each request with its arrival time before anything else runs (service.md rev 2: the
deadline counts from the request's arrival, time spent queued included)."""

from __future__ import annotations

import time
from typing import Any


class ArrivalMiddleware:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["arrived"] = time.monotonic()
        await self.app(scope, receive, send)
