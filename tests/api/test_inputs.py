"""Input limits: lone surrogates and deep nesting outside prefetch are 400s (inside prefetch the
resource is skipped, never a 500), a refused body is logged in one line without its content, POST
bodies must be JSON (415), feedback with a NUL or a lone surrogate is a 400 on every store, and the
log of a real `cds serve` stays one line per record with no patient id in it."""

from __future__ import annotations

import copy
import json
import logging
import re

import pytest
import requests
from fastapi.testclient import TestClient

from cds.api import create_app
from tests.conftest import fixture_request, settings_for, topics
from tests.live import cds_serve

REQUEST = fixture_request("requests/unit-error-1000mg.json")
EXPECTED = "units.mg-mcg-confusion"
CALL = "/cds-services/b12-order-sign"
FEEDBACK = "/cds-services/b12-order-sign/feedback"
JSON = {"Content-Type": "application/json"}


def raw(request: dict) -> bytes:
    """The request as JSON text with the marker "LONE" written as a lone surrogate escape."""
    return json.dumps(request).replace("LONE", "\\ud800").encode()


def nested(depth: int) -> str:
    """JSON text of `depth` arrays and objects, one inside the other."""
    opening = "".join("[" if level % 2 else '{"x": ' for level in range(depth))
    return opening + '"leaf"' + "".join("]" if level % 2 else "}" for level in reversed(range(depth)))


def with_member(request: dict, name: str, json_text: str) -> bytes:
    """The request as JSON text with one more member, given as JSON text."""
    return (json.dumps(request)[:-1] + f', "{name}": {json_text}}}').replace("LONE", "\\ud800").encode()


@pytest.mark.parametrize("where", ["hook", "hookInstance", "context.userId", "context.draftOrders.entry.0.resource.id",
                                   "a key"])
def test_a_lone_surrogate_outside_prefetch_is_a_400_logged_in_one_line(client, where, caplog):
    request = copy.deepcopy(REQUEST)
    if where == "a key":
        request["context"]["LONE"] = 1
    else:
        *path, last = where.split(".")
        target = request
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = "LONE"
    body = raw(request)
    caplog.set_level(logging.WARNING)
    response = client.post(CALL, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == [{"field": "(body)", "message": response.json()["error"]}]
    assert "lone surrogate" in response.json()["error"]
    refusals = [record.getMessage() for record in caplog.records if "refused a body" in record.getMessage()]
    assert len(refusals) == 1 and f"of {len(body)} bytes" in refusals[0] and "lone surrogate" in refusals[0]
    assert "pat-unit-error" not in caplog.text and "1000mg" not in caplog.text       # never the content


@pytest.mark.parametrize(("depth", "status"), [(62, 200), (64, 400), (1000, 400)])
def test_nesting_outside_prefetch_is_limited_to_64(client, depth, status):
    """The body is level 1 and its `extension` member level 2: 62 more fit, 64 more do not."""
    response = client.post(CALL, content=with_member(REQUEST, "extension", nested(depth)), headers=JSON)
    assert response.status_code == status


@pytest.mark.parametrize("fault", ["deep", "surrogate"])
def test_inside_prefetch_a_deep_or_surrogate_resource_never_makes_a_500(client, fault):
    request = copy.deepcopy(REQUEST)
    code = '{"text": "LONE"}' if fault == "surrogate" else nested(500)
    conditions = '{"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": ' \
                 f'{{"resourceType": "Condition", "id": "bad", "code": {code}}}}}]}}'
    prefetch = json.dumps(request.pop("prefetch"))[:-1] + f', "conditions": {conditions}}}'
    response = client.post(CALL, content=with_member(request, "prefetch", prefetch), headers=JSON)
    assert response.status_code == 200, response.text
    assert EXPECTED in topics(response)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx", "text/json"])
def test_a_post_that_is_not_json_is_a_415_in_the_error_shape(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    for path in (CALL, FEEDBACK):
        response = client.post(path, content=json.dumps(REQUEST).encode(), headers=headers)
        assert response.status_code == 415, (path, content_type)
        assert response.json()["error"] == "request body must be JSON"
        assert response.json()["detail"][0]["field"] == "Content-Type"


@pytest.mark.parametrize("content_type", ["application/json", "APPLICATION/JSON; charset=UTF-8",
                                          "application/fhir+json", "application/cds-hooks+json;charset=utf-8"])
def test_json_and_plus_json_types_are_accepted(client, content_type):
    response = client.post(CALL, content=json.dumps(REQUEST).encode(), headers={"Content-Type": content_type})
    assert response.status_code == 200


def _feedback(text: str) -> bytes:
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z",
            "overrideReason": {"reason": {"code": "x", "display": text}, "userComment": text}}
    return json.dumps({"feedback": [item]}).replace("LONE", "\\ud800").encode()


@pytest.mark.parametrize("text", ["a\u0000b", "LONE"], ids=["NUL", "lone surrogate"])
def test_feedback_with_a_nul_or_a_lone_surrogate_is_a_400_on_every_store(settings, runtime, database_url, text):
    client = TestClient(create_app(settings_for(settings.data_dir, database_url=database_url), runtime))
    for _ in range(2):                                # a retry is refused alike, never a 503
        response = client.post(FEEDBACK, content=_feedback(text), headers=JSON)
        assert response.status_code == 400, response.text
    assert client.post(FEEDBACK, content=_feedback("fine"), headers=JSON).json() == {"stored": 1, "alreadyStored": 0}


def test_the_log_of_cds_serve_is_one_line_per_record_without_patient_ids(tmp_path):
    """A prefetch id with a newline and an invalid Patient (both skipped and logged) and an unknown
    path with an encoded newline: the log has no forged line and no patient id."""
    request = copy.deepcopy(REQUEST)
    patient = request["prefetch"]["patient"]
    patient.update({"id": "pat-secret-4711", "birthDate": "not a date"})
    request["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Condition", "id": "c1\nFORGED Patient/pat-secret-4711", "code": 7}}]}
    log = tmp_path / "serve.log"
    with cds_serve(data_dir=str(tmp_path / "data"), log=log) as base:
        assert requests.post(base + CALL, json=request, timeout=10).status_code == 200
        requests.get(base + "/cds-services/%0aFORGED%1b[31m", timeout=10)
    text = log.read_text()
    assert "skipped invalid Patient/#" in text and "skipped invalid Condition/c1\\nFORGED" in text
    assert "pat-secret-4711" not in text
    assert not re.search(r"^FORGED", text, re.MULTILINE) and "\x1b" not in text


@pytest.mark.parametrize(("where", "number"), [
    ("context.draftOrders.entry.0.resource.subject.reference", "NaN"),       # an element no fact reads
    ("context.draftOrders.entry.0.resource.requester", "Infinity"),
    ("prefetch.patient.birthDate", "-Infinity"),
    ("context.draftOrders.entry.0.resource.id", "1e309"),                   # beyond the double range
])
def test_a_number_json_cannot_carry_is_a_400_naming_it(client, where, number):
    """NaN and Infinity are not JSON, and 1e309 is no double: taken, they could only come back in a
    suggestion (which copies the draft) as an answer no JSON reader can read."""
    request = copy.deepcopy(REQUEST)
    *path, last = where.split(".")
    target = request
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = "NUMBER"
    response = client.post(CALL, content=json.dumps(request).replace('"NUMBER"', number).encode(), headers=JSON)
    assert response.status_code == 400, response.text
    assert number in response.json()["error"] and "JSON cannot carry" in response.json()["error"]
