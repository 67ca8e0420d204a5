"""An app that is let go is freed, with its store: nothing process-wide keeps it alive (FastAPI caches its
endpoint functions for the whole process; the rule runtime calls its reload listeners). The tests make
hundreds of apps over one runtime: each kept alive held its store and grew the test process to 2.4 GB,
where a full garbage-collector pass took seconds and pushed calls past their deadline."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from cds.api import create_app
from tests.conftest import fixture_request, topics


def test_an_app_let_go_is_freed_with_its_store_whether_or_not_it_ran(settings, runtime):
    freed: list[weakref.ref] = []
    for started in (False, True):
        app = create_app(settings, runtime)
        client = TestClient(app)
        if started:
            with client:
                _use(client)
        else:
            _use(client)
        freed += [weakref.ref(app), weakref.ref(app.state.feedback)]
        del app, client
    gc.collect()
    assert [ref() for ref in freed] == [None] * 4
    assert runtime.on_reload == []


def _use(client: TestClient) -> None:
    """Every kind of route: a page, a service call, the OpenAPI document."""
    assert client.get("/docs").status_code == 200
    response = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/no-labs-im-draft.json"))
    assert "deficiency.not-confirmed" in topics(response)
    assert client.get("/openapi.json").status_code == 200
