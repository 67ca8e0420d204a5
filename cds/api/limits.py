"""Reading a request body within limits: its type, its size, its time, and how many at once.

A body is read only after the route's other dependencies (the bearer token first) have passed, so
an unauthenticated request never has its body buffered. Every refusal before the body is read
whole closes the connection (`Connection: close`): what the client still sends is never read.
"""

from __future__ import annotations

import anyio
from fastapi import Request

from cds.api.errors import ApiError

CLOSE = {"Connection": "close"}


def is_json(content_type: str | None) -> bool:
    """`application/json` or any `+json` type, parameters such as charset allowed, any case."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


class BodyReader:
    """At most `max_bytes` within `timeout_s`, and at most `in_flight` bodies being read at once
    per worker (a slow or idle upload holds one; beyond them a new one is refused with 503)."""

    def __init__(self, max_bytes: int, timeout_s: float, in_flight: int):
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._reads = anyio.Semaphore(in_flight)

    async def read(self, request: Request) -> bytes:
        if not is_json(request.headers.get("content-type")):
            raise ApiError(415, "request body must be JSON", [
                {"field": "Content-Type", "message": "send application/json (or a +json type)"}], CLOSE)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        try:
            self._reads.acquire_nowait()
        except anyio.WouldBlock:
            raise ApiError(503, "too many request bodies in progress: retry",
                           [{"field": "(body)", "message": "the service is reading as many bodies as it may"}],
                           {"Retry-After": "1", **CLOSE}) from None
        try:
            with anyio.fail_after(self.timeout_s):
                return await self._chunks(request)
        except TimeoutError:
            raise ApiError(408, "request body not received in time", [
                {"field": "(body)", "message": f"a body must arrive within {self.timeout_s:g} s"}], CLOSE) from None
        finally:
            self._reads.release()

    async def _chunks(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> ApiError:
        return ApiError(413, "request body too large", [
            {"field": "(body)", "message": f"limit is {self.max_bytes} bytes"}], CLOSE)
