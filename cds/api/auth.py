"""Bearer-token authentication for service calls, feedback and analytics (CDS Hooks 2.0 JWT, off unless
`--auth jwt`).

Wire it with `install_auth(app, settings, engine)` in create_app and a dependency on each route:
`require_token` (aud `<public-url>/cds-services/<id>`), `require_feedback_token` (the same, or
`…/<id>/feedback` as the CDS Hooks Sandbox sends it) and `require_analytics_token` (aud
`<public-url>/analytics`). Route dependencies run before the body is read (cds.api.limits), so an
unauthenticated request never has its body buffered; its 401 closes the connection.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from sqlalchemy.engine import Engine

from cds.api.errors import ApiError
from cds.api.limits import CLOSE
from cds.auth.issuers import AuthConfigError, Issuer, load_issuers
from cds.auth.verifier import InvalidToken, TokenVerifier
from cds.config import Settings
from cds.store.replay import GuardedReplayCache, SqlReplayCache

log = logging.getLogger(__name__)


def build_verifier(settings: Settings, engine: Engine) -> TokenVerifier | None:
    """The token verifier for `--auth jwt` (replay cache in the service's store, guarded), None when auth is off."""
    if settings.auth == "none":
        return None
    if settings.issuers is None:
        raise AuthConfigError("--auth jwt needs --issuers FILE (or CDS_ISSUERS)")
    if settings.public_url is None:
        raise AuthConfigError("--auth jwt needs --public-url URL (or CDS_PUBLIC_URL)")
    return TokenVerifier(load_issuers(settings.issuers), GuardedReplayCache(SqlReplayCache(engine)))


def install_auth(app: FastAPI, settings: Settings, engine: Engine) -> None:
    """Put the verifier on app.state (None when auth is off)."""
    app.state.verifier = build_verifier(settings, engine)


def unauthorized(credentials_sent: bool) -> ApiError:
    """The 401 for any refusal: it says nothing of why (the log does)."""
    challenge = 'Bearer error="invalid_token"' if credentials_sent else "Bearer"
    return ApiError(401, "unauthorized", headers={"WWW-Authenticate": challenge, **CLOSE})


async def require_token(request: Request) -> None:
    """FastAPI dependency: a valid bearer token whose aud is this service's URL, when auth is on."""
    await _verify(request, [f"/cds-services/{request.path_params['service_id']}"])


async def require_feedback_token(request: Request) -> None:
    """FastAPI dependency: a valid bearer token whose aud is this service's URL or its feedback URL."""
    service = f"/cds-services/{request.path_params['service_id']}"
    await _verify(request, [service, f"{service}/feedback"])


async def require_analytics_token(request: Request) -> None:
    """FastAPI dependency: a valid bearer token whose aud is `<public-url>/analytics`, when auth is on."""
    await _verify(request, ["/analytics"])


def token_issuer(request: Request) -> Issuer | None:
    """The issuer whose token the request carried (None when auth is off)."""
    return getattr(request.state, "issuer", None)


async def _verify(request: Request, audience_paths: list[str]) -> None:
    """Refuse the request (401) unless auth is off or it has a valid token for one of `<public-url><path>`."""
    verifier: TokenVerifier | None = request.app.state.verifier
    if verifier is None:
        return
    header = request.headers.get("authorization")
    if header is None:
        log.info("refused %s %s: no Authorization header", request.method, request.url.path)
        raise unauthorized(credentials_sent=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        log.warning("refused %s %s: Authorization header is not 'Bearer <token>'", request.method, request.url.path)
        raise unauthorized(credentials_sent=True)
    settings: Settings = request.app.state.settings
    try:
        request.state.issuer, _ = await verifier.verify(token.strip(), [settings.public_url + path
                                                                       for path in audience_paths])
    except InvalidToken as reason:
        log.warning("refused %s %s: %s", request.method, request.url.path, reason)
        raise unauthorized(credentials_sent=True) from None
