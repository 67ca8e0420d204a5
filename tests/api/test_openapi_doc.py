"""The OpenAPI document for integrators: the service ids in force as an enum, each service's fixture
request as its example, the bearer JWT where auth is on, and the real shapes of /readyz and /healthz."""

from __future__ import annotations

from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from cds.api import create_app
from cds.fixtures import render_fixture
from tests.conftest import FIXTURES
from tests.jwt_helpers import Signer, file_issuer, jwt_settings

CALL, FEEDBACK, ANALYTICS = "/cds-services/{service_id}", "/cds-services/{service_id}/feedback", "/analytics/api/rules"


def _resolved(spec: dict, schema: dict) -> dict:
    """`schema` with the document's components, for a validator."""
    return {**schema, "components": spec["components"]}


def test_service_ids_are_an_enum_and_each_service_has_its_fixture_request_as_example(client, runtime):
    spec = client.get("/openapi.json").json()
    services = sorted(runtime.current.rulebook.services)
    for path in (CALL, FEEDBACK):
        [parameter] = spec["paths"][path]["post"]["parameters"]
        assert parameter["schema"]["enum"] == services
    content = spec["paths"][CALL]["post"]["requestBody"]["content"]["application/json"]
    assert sorted(content["examples"]) == services
    validator = Draft202012Validator(_resolved(spec, {"$ref": "#/components/schemas/CdsHooksRequest"}))
    for service, example in content["examples"].items():
        assert example["value"]["hook"] == runtime.current.rulebook.services[service].hook
        assert example["value"]["context"] == render_fixture(FIXTURES / "services" / f"{service}.json")["context"]
        validator.validate(example["value"])
        answer = client.post(f"/cds-services/{service}", json=example["value"])
        assert answer.status_code == 200, answer.text


def test_health_and_readiness_answers_fit_their_documented_schemas(client):
    spec = client.get("/openapi.json").json()
    for path, model in (("/healthz", "Health"), ("/readyz", "Readiness")):
        documented = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert documented == {"$ref": f"#/components/schemas/{model}"}
        schema = spec["components"]["schemas"][model]
        assert schema["properties"] and schema["required"]
        Draft202012Validator(_resolved(spec, documented)).validate(client.get(path).json())


def test_the_bearer_jwt_scheme_is_required_where_auth_checks_a_token(tmp_path, runtime):
    settings = jwt_settings(tmp_path, file_issuer(tmp_path, Signer.es384()))
    spec = TestClient(create_app(settings, runtime)).get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["cdsHooksJwt"] == {**spec["components"]["securitySchemes"][
        "cdsHooksJwt"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    secured = {(path, method) for path, operations in spec["paths"].items()
               for method, operation in operations.items() if operation.get("security") == [{"cdsHooksJwt": []}]}
    assert secured == {(CALL, "post"), (FEEDBACK, "post"), (ANALYTICS, "get")}


def test_without_auth_no_operation_requires_a_token(client):
    spec = client.get("/openapi.json").json()
    assert "cdsHooksJwt" in spec["components"]["securitySchemes"]
    assert not [operation for operations in spec["paths"].values() for operation in operations.values()
                if "security" in operation]
