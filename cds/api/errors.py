"""The one JSON error shape of every answer that is not a success (service.md)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds.api.body import log_refused

log = logging.getLogger(__name__)


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """`{"error": ..., "detail": [...]}`: what went wrong, and per field why."""

    error: str
    detail: list[ErrorItem] = []


class ApiError(Exception):
    """Raised anywhere below a route: becomes an answer in the one error shape."""

    def __init__(self, status: int, error: str, detail: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None):
        self.status = status
        self.error = error
        self.detail = detail or []
        self.headers = headers
        super().__init__(error)


def problem(status: int, error: str, detail: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail or []}, status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error statuses a route really answers with."""
    described = {400: "Bad request: the detail names each bad field", 401: "Missing or invalid token",
                 404: "Unknown service", 408: "Request body not received in time",
                 412: "Required FHIR data unavailable", 413: "Request body too large",
                 415: "Request body is not JSON (Content-Type)", 503: "Temporarily unavailable: retry"}
    return {status: {"model": ErrorBody, "description": described[status]} for status in statuses}


def install(app: FastAPI) -> None:
    """Exception handlers: ApiError, Starlette's 404/405, validation and anything unexpected."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        if error.status == 400:
            reason = "; ".join(f"{item['field']}: {item['message']}" for item in error.detail)
            log_refused(getattr(request.state, "raw_body", b""), f"{error.error} ({reason})" if reason else error.error)
        return problem(error.status, error.error, error.detail, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = {404: "not found", 405: "method not allowed"}.get(error.status_code, str(error.detail))
        where = [{"field": "(path)", "message": f"{request.method} {request.url.path}"}]
        return problem(error.status_code, message, where, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return problem(400, "invalid request", [
            {"field": ".".join(str(part) for part in e["loc"]) or "(body)", "message": e["msg"]}
            for e in error.errors()])

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return problem(500, "internal error")
