"""The API as an EHR and a security review see it: one error shape everywhere, an OpenAPI document
that describes the real bodies and statuses, and schemathesis finding no 500 from that document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cds.api import create_app
from cds.config import Settings
from tests.conftest import FUZZ_EXAMPLES


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/cds-services/b12-order-sign", 405), ("delete", "/cds-services", 405), ("put", "/healthz", 405),
    ("get", "/no-such-page", 404), ("post", "/cds-services/no-such-service", 404),
    ("post", "/cds-services/no-such-service/feedback", 404)])
def test_every_error_has_the_one_shape(client, method, path, status):
    response = getattr(client, method)(path, **({"json": {}} if method in ("post", "put") else {}))
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str) and isinstance(body["detail"], list)


def test_openapi_documents_the_real_bodies_and_statuses(client):
    spec = client.get("/openapi.json").json()
    call = spec["paths"]["/cds-services/{service_id}"]["post"]
    feedback = spec["paths"]["/cds-services/{service_id}/feedback"]["post"]
    assert call["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CdsHooksRequest")
    assert feedback["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/FeedbackRequest")
    assert {"200", "400", "404", "412", "413"} <= set(call["responses"])
    assert "503" in feedback["responses"]
    assert all("422" not in op["responses"] for ops in spec["paths"].values() for op in ops.values())
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"hook", "hookInstance", "context"} <= set(schemas["CdsHooksRequest"]["required"])
    assert schemas["ErrorBody"]["required"] == ["error"]


APP = create_app(Settings(data_dir=__import__("tempfile").mkdtemp(prefix="cds-schemathesis-")))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


@SCHEMA.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_finds_no_server_error(case):
    """Bounded in CI (25 examples per operation); run longer with --hypothesis-profile or more examples."""
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), list)
