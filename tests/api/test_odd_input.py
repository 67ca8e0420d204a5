"""Odd but well-formed JSON inside resources: answered (200) with the good data's cards, never a 500."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import fixture_request, topics

Request = dict[str, Any]
MG_MCG = "units.mg-mcg-confusion"


def _draft(request: Request) -> dict[str, Any]:
    return request["context"]["draftOrders"]["entry"][0]["resource"]


def _second_draft(change: Callable[[dict[str, Any]], None]) -> Callable[[Request], None]:
    def apply(request: Request) -> None:
        extra = copy.deepcopy(_draft(request))
        change(extra)
        request["context"]["draftOrders"]["entry"].append({"resource": extra})
    return apply


def _observation_value(value: float) -> Callable[[Request], None]:
    def apply(request: Request) -> None:
        request["prefetch"]["observations"]["entry"][0]["resource"]["valueQuantity"]["value"] = value
    return apply


def _dose(value: float) -> Callable[[Request], None]:
    def apply(request: Request) -> None:
        extra = copy.deepcopy(_draft(request))
        extra["id"] = "odd-dose"
        extra["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = value
        request["context"]["draftOrders"]["entry"].append({"resource": extra})
    return apply


def _set(path: tuple, value: Any) -> Callable[[Request], None]:
    def apply(request: Request) -> None:
        target = _second_draft(lambda d: None)
        target(request)
        node = request["context"]["draftOrders"]["entry"][-1]["resource"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return apply


CASES = {
    "huge lab value": _observation_value(1e16),
    "tiny lab value": _observation_value(1e-05),
    "tiny dose": _dose(1e-05),
    "huge dose": _dose(1e16),
    "astronomic dose": _dose(10**400),
    "period of 20000 days": _set(("dosageInstruction", 0, "timing", "repeat", "period"), 20000),
    "huge dispense": _set(("dispenseRequest",), {"quantity": {"value": 1e308, "unit": "mL"}}),
    "same draft twice": _second_draft(lambda d: None),
    "same id, other dose": _second_draft(
        lambda d: d["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value=2)),
    "drafts without id": lambda r: (_draft(r).pop("id"), _second_draft(lambda d: None)(r)),
    "draft resourceType a list": _set(("resourceType",), ["MedicationRequest"]),
    "draft id a list": _set(("id",), ["x"]),
    "draft id an object": _set(("id",), {"a": 1}),
    "prefetch resource without resourceType": lambda r: r["prefetch"]["observations"]["entry"].append(
        {"resource": {"id": "nameless"}}),
    "prefetch resourceType an object": lambda r: r["prefetch"]["observations"]["entry"].append(
        {"resource": {"resourceType": {"a": 1}, "id": "odd"}}),
    "repeated prefetch order": lambda r: r["prefetch"]["medications"]["entry"].extend(
        [{"resource": copy.deepcopy(_draft(r)) | {"id": "mr-old", "status": "active"}}] * 2),
}


@pytest.mark.parametrize("change", CASES.values(), ids=CASES.keys())
def test_odd_values_keep_the_critical_card(client, change):
    request = fixture_request("requests/unit-error-1000mg.json")
    change(request)
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200, response.text
    assert MG_MCG in topics(response)


def test_prefetch_key_with_a_list_as_resource_type_is_400(client):
    request = fixture_request("requests/unit-error-1000mg.json")
    request["prefetch"]["conditions"] = {"resourceType": ["Bundle"]}
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "prefetch.conditions"


@pytest.mark.parametrize("path", ["/cds-services/b12-order-sign", "/cds-services/b12-order-sign/feedback"])
def test_deeply_nested_body_is_400(client, path):
    response = client.post(path, content=b"[" * 5000 + b"]" * 5000, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["error"]


def _observation(index: int, loinc: str, value: float, unit: str, day: str) -> dict[str, Any]:
    return {"resource": {
        "resourceType": "Observation", "id": f"o{index}", "status": "final", "effectiveDateTime": day,
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}}


def test_oversized_prefetch_is_cut_to_its_newest_results(client, caplog):
    """1200 old Hb results before this week's B12: the cap keeps the newest, so the B12 is read."""
    request = fixture_request("requests/no-labs-im-draft.json")
    old = [_observation(i, "718-7", 130, "g/L", "2023-01-01") for i in range(1200)]
    recent = _observation(9999, "2132-9", 150, "ng/L", datetime.now(UTC).date().isoformat())
    request["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset", "entry": [*old, recent]}
    response = client.post("/cds-services/b12-order-sign", json=request)
    assert response.status_code == 200
    assert "deficiency.not-confirmed" not in topics(response)
    assert "service.incomplete" not in topics(response)
    assert "observations holds 1201 resources the rules read: reading 1000" in caplog.text
