"""CORS defaults: the CDS Hooks Sandbox's origins only while auth is off; with auth on, only the
origins configured (none by default). A cross-site form post is refused for its type (415) anyway."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cds.api import create_app
from cds.config import Settings
from tests.jwt_helpers import Signer, file_issuer, jwt_settings

SANDBOX = "https://sandbox.cds-hooks.org"
LOCAL_SANDBOX = "http://127.0.0.1:18300"
EVIL = "https://evil.example"


def allowed(client: TestClient, origin: str) -> bool:
    """Whether a preflight for a POST with a token from `origin` is allowed."""
    response = client.options("/cds-services/b12-order-sign/feedback", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    return response.status_code == 200 and response.headers.get("access-control-allow-origin") == origin


def test_without_auth_only_the_sandbox_origins_are_allowed(client):
    assert allowed(client, SANDBOX) and allowed(client, LOCAL_SANDBOX) and allowed(client, "http://localhost:3000")
    assert not allowed(client, EVIL) and not allowed(client, "https://sandbox.cds-hooks.org.evil.example")


def test_with_auth_no_origin_is_allowed_unless_configured(tmp_path, runtime):
    settings = jwt_settings(tmp_path, file_issuer(tmp_path, Signer.es384()))
    client = TestClient(create_app(settings, runtime))
    assert not allowed(client, SANDBOX) and not allowed(client, EVIL)
    ehr = settings.model_copy(update={"cors_origins": ["https://ehr.example"]})
    configured = TestClient(create_app(ehr, runtime))
    assert allowed(configured, "https://ehr.example") and not allowed(configured, SANDBOX)


def test_cors_origins_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("CDS_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_cross_site_form_post_cannot_store_feedback(client, content_type):
    body = b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-01-01"}]}'
    response = client.post("/cds-services/b12-order-sign/feedback", content=body,
                           headers={"Origin": EVIL, "Content-Type": content_type})
    assert response.status_code == 415
    assert "access-control-allow-origin" not in response.headers
