"""Bad input never gets a 500: arbitrary JSON, and fixtures with arbitrary values spliced in."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import fixture_request

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
BASE = fixture_request("requests/neuro-oral-draft.json")
PATHS = [
    ("context",), ("context", "draftOrders"), ("context", "draftOrders", "entry"), ("context", "selections"),
    ("context", "patientId"), ("prefetch",), ("prefetch", "observations"), ("prefetch", "observations", "entry"),
    ("prefetch", "medications"), ("prefetch", "patient"), ("hookInstance",), ("fhirAuthorization",),
]
ALLOWED = {200, 400, 412}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON)
def test_arbitrary_json_bodies(client, body):
    response = client.post("/cds-services/b12-order-sign", content=json.dumps(body),   # json=None would send no body
                           headers={"Content-Type": "application/json"})
    assert response.status_code in ALLOWED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=JSON, entry_value=JSON)
def test_fixture_with_arbitrary_values_spliced_in(client, path, value, entry_value):
    request = copy.deepcopy(BASE)
    request["prefetch"]["conditions"]["entry"].append({"resource": entry_value})
    target = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = client.post("/cds-services/b12-order-select", json={**request, "hook": "order-select"})
    assert response.status_code in ALLOWED, response.text


def _leaf_paths(value, path=()):
    """Every path to a scalar inside `value` (the request's FHIR resources)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _leaf_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _leaf_paths(item, (*path, index))]
    return [path]


RESOURCE_LEAVES = [("context", "draftOrders", *p) for p in _leaf_paths(BASE["context"]["draftOrders"])] + [
    ("prefetch", *p) for p in _leaf_paths(BASE["prefetch"])]
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
           | st.sampled_from([1e16, 1e-05, -1, 0, 10**400, 1e308, "1e5", "", "mg", "MG", "ug", "µg", "d", "mo"]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(RESOURCE_LEAVES), value=SCALARS)
def test_any_value_inside_the_resources(client, path, value):
    request = copy.deepcopy(BASE)
    target = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = client.post("/cds-services/b12-order-sign", content=json.dumps(request, allow_nan=True),
                           headers={"Content-Type": "application/json"})
    assert response.status_code in ALLOWED, response.text
