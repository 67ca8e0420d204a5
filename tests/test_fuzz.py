"""Bad input never gets a 500: arbitrary JSON, and fixtures with arbitrary values spliced in."""

from __future__ import annotations

import copy

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
    assert client.post("/cds-services/b12-order-sign", json=body).status_code in ALLOWED


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
