"""Request body size limit as ASGI middleware: 413 before an oversized body is read whole.

The body is read here, up to the limit, before the app sees the request: an oversized body,
declared (Content-Length) or chunked, is refused without the app running, and a refused service
call is counted in `cds_requests_total` as the 413 it is.
"""

from __future__ import annotations

import json
from typing import Any

from cds.metrics import count_rejected_call

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        first = await self._read_body(receive)
        if first is None:
            await self._reject(scope, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Any) -> Message | None:
        """The whole body as one message (or the disconnect that ended it); None past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _reject(self, scope: Scope, send: Any) -> None:
        count_rejected_call(scope, 413)
        body = json.dumps({"error": "request body too large",
                           "detail": [{"field": "(body)", "message": f"limit is {self.max_bytes} bytes"}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
