"""Stamps each request with its arrival time before anything else runs (service.md: the
deadline counts from the request's arrival, time spent queued included).

Arrival is when the request reached this process, or earlier when a trusted proxy says so in an
`X-Request-Start` header (`t=` and Unix time in seconds, milliseconds or microseconds, as nginx,
HAProxy and Heroku write it): time queued in front of the service counts too.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from typing import Any

MAX_PROXY_QUEUE_S = 60.0   # an older stamp is a clock problem, not a queue: it is not believed


class ArrivalMiddleware:
    def __init__(self, app: Any, trusted_proxies: Iterable[str] = ()):
        self.app = app
        self.trusted = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            now = time.monotonic()
            queued = self._queued_at_proxy(scope) if self.trusted else 0.0
            scope.setdefault("state", {})["arrived"] = now - queued
        await self.app(scope, receive, send)

    def _queued_at_proxy(self, scope: dict[str, Any]) -> float:
        """Seconds the request waited since a trusted proxy stamped it (0 when not stamped or not trusted)."""
        client = scope.get("client") or ("", 0)
        try:
            if not any(ipaddress.ip_address(client[0]) in network for network in self.trusted):
                return 0.0
        except ValueError:
            return 0.0
        header = dict(scope.get("headers") or ()).get(b"x-request-start")
        return _queued_since(header.decode("latin-1"), time.time()) if header else 0.0


def _queued_since(header: str, now: float) -> float:
    try:
        stamp = float(header.strip().removeprefix("t="))
    except ValueError:
        return 0.0
    while stamp > 1e11:                     # microseconds or milliseconds → seconds since 1970
        stamp /= 1e3
    queued = now - stamp
    return queued if 0.0 < queued <= MAX_PROXY_QUEUE_S else 0.0
