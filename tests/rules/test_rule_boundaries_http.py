"""Deficiency and monitoring rules either side of each threshold and look-back window, over HTTP.

Each case takes a real fixture, moves one value or date just inside or just outside a limit of
clinical-rules.md, posts it to the service and checks whether the rule's card appears.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import fixture_request, topics

Request = dict[str, Any]


def _observation(request: Request, loinc: str) -> dict[str, Any]:
    for entry in request["prefetch"]["observations"]["entry"]:
        if any(c["code"] == loinc for c in entry["resource"]["code"]["coding"]):
            return entry["resource"]
    raise LookupError(loinc)


def _days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def lab(loinc: str, value: float | None = None, days_ago: float | None = None) -> Callable[[Request], None]:
    """Set the value and/or the date of the fixture's result for `loinc`."""
    def change(request: Request) -> None:
        observation = _observation(request, loinc)
        if value is not None:
            observation["valueQuantity"]["value"] = value
        if days_ago is not None:
            observation["effectiveDateTime"] = _days_ago(days_ago)
    return change


def added_mma(value: float, days_ago: float) -> Callable[[Request], None]:
    """Add an MMA result (umol/L) to the fixture's observations."""
    def change(request: Request) -> None:
        observation = copy.deepcopy(request["prefetch"]["observations"]["entry"][0]["resource"])
        observation.update(id="obs-added-mma", effectiveDateTime=_days_ago(days_ago),
                           code={"coding": [{"system": "http://loinc.org", "code": "13964-2"}]},
                           valueQuantity={"value": value, "unit": "umol/L", "code": "umol/L",
                                          "system": "http://unitsofmeasure.org"})
        request["prefetch"]["observations"]["entry"].append({"resource": observation})
    return change


def without_conditions(request: Request) -> None:
    request["prefetch"]["conditions"]["entry"] = []


def combined(*changes: Callable[[Request], None]) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        for each in changes:
            each(request)
    return change


def draft_dose(value: float) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        draft = request["context"]["draftOrders"]["entry"][0]["resource"]
        draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = value
    return change


def draft_every(days: int) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        draft = request["context"]["draftOrders"]["entry"][0]["resource"]
        draft["dosageInstruction"][0]["timing"]["repeat"].update(frequency=1, period=days, periodUnit="d")
    return change


def by_id(request: Request, key: str, resource_id: str) -> dict[str, Any]:
    """The one resource with `resource_id` in the prefetch Bundle `key`."""
    [resource] = [e["resource"] for e in request["prefetch"][key]["entry"] if e["resource"]["id"] == resource_id]
    return resource


def observation_dated(observation_id: str, days_ago: float) -> Callable[[Request], None]:
    def change(request: Request) -> None:
        by_id(request, "observations", observation_id)["effectiveDateTime"] = _days_ago(days_ago)
    return change


def course_started(days_ago: float) -> Callable[[Request], None]:
    """Move the loading order to `days_ago` and the maintenance that followed it two weeks later."""
    def change(request: Request) -> None:
        for entry in request["prefetch"]["medications"]["entry"]:
            order = entry["resource"]
            order["authoredOn"] = _days_ago(days_ago if order["id"] == "mr-loading" else days_ago - 14)
    return change


SIGN, VIEW = "b12-order-sign", "b12-patient-view"
LOADING = "deficiency.neuro-or-anaemia-needs-loading"
ORAL_OPTION = "deficiency.mild-dietary-oral-option"
RENAL = "monitoring.renal-confounds-labs"
LOW_UNTREATED = "deficiency.low-untreated"
CASES = [
    # Hb 110 g/L: significant anaemia below it (last 90 days); a monthly IM draft then under-treats.
    ("dietary-im-draft", SIGN, lab("718-7", value=10.9), LOADING, True),
    ("dietary-im-draft", SIGN, lab("718-7", value=11.0), LOADING, False),
    ("dietary-im-draft", SIGN, lab("718-7", value=10.9), ORAL_OPTION, False),
    ("dietary-im-draft", SIGN, lab("718-7", value=11.0), ORAL_OPTION, True),
    # An anaemic Hb older than 90 days is unknown: it neither asks for loading nor relaxes to oral.
    ("dietary-im-draft", SIGN, lab("718-7", value=9.0, days_ago=91), LOADING, False),
    ("dietary-im-draft", SIGN, lab("718-7", value=9.0, days_ago=91), ORAL_OPTION, False),
    # Loading means a dose at least every 7 days.
    ("neuro-loading-draft", SIGN, draft_every(7), LOADING, False),
    ("neuro-loading-draft", SIGN, draft_every(8), LOADING, True),
    # B12 350 ng/L is still indeterminate; 351 is normal.
    ("dietary-im-draft", SIGN, lab("2132-9", value=350), "deficiency.unlikely-normal-level", False),
    ("dietary-im-draft", SIGN, lab("2132-9", value=351), "deficiency.unlikely-normal-level", True),
    ("dietary-im-draft", SIGN, lab("2132-9", value=350), "deficiency.indeterminate-check-mma", True),
    ("dietary-im-draft", SIGN, lab("2132-9", value=351), "deficiency.indeterminate-check-mma", False),
    # A B12 result confirms deficiency for 365 days.
    ("dietary-im-draft", SIGN, lab("2132-9", days_ago=364), "deficiency.not-confirmed", False),
    ("dietary-im-draft", SIGN, lab("2132-9", days_ago=366), "deficiency.not-confirmed", True),
    # An MMA in the last 90 days already answers an indeterminate B12 (0.30: not raised).
    ("def-bariatric-patient-view", VIEW, added_mma(0.30, 89), "deficiency.indeterminate-check-mma", False),
    ("def-bariatric-patient-view", VIEW, added_mma(0.30, 91), "deficiency.indeterminate-check-mma", True),
    # MMA above 0.45 umol/L upgrades indeterminate to low (no renal impairment here).
    ("def-bariatric-patient-view", VIEW, added_mma(0.45, 10), LOW_UNTREATED, False),
    ("def-bariatric-patient-view", VIEW, added_mma(0.46, 10), LOW_UNTREATED, True),
    # Malabsorption: oral needs at least 1000 mcg a day.
    ("def-pernicious-oral-50", "b12-order-select", draft_dose(999), "deficiency.malabsorption-oral-dose-too-low",
     True),
    ("def-pernicious-oral-50", "b12-order-select", draft_dose(1000), "deficiency.malabsorption-oral-dose-too-low",
     False),
    # Severe anaemia: Hb below 80 g/L.
    ("severe-anaemia-im-draft", SIGN, lab("718-7", value=7.9), "monitoring.potassium-severe-anaemia", True),
    ("severe-anaemia-im-draft", SIGN, lab("718-7", value=8.0), "monitoring.potassium-severe-anaemia", False),
    # Renal impairment: eGFR below 60 (without the CKD condition); raised markers: MMA above 0.45,
    # homocysteine above 15.
    ("mon-ckd-patient-view", VIEW, combined(without_conditions, lab("33914-3", value=60)), RENAL, False),
    ("mon-ckd-patient-view", VIEW, combined(without_conditions, lab("33914-3", value=59)), RENAL, True),
    ("mon-ckd-patient-view", VIEW, combined(lab("13964-2", value=0.45), lab("13965-9", value=15)), RENAL, False),
    ("mon-ckd-patient-view", VIEW, combined(lab("13964-2", value=0.46), lab("13965-9", value=15)), RENAL, True),
    ("mon-ckd-patient-view", VIEW, combined(lab("13964-2", value=0.45), lab("13965-9", value=16)), RENAL, True),
    # The active CKD condition alone is renal impairment, whatever the eGFR.
    ("mon-ckd-patient-view", VIEW, lab("33914-3", value=90), RENAL, True),
    # Without renal impairment the MMA 0.62 upgrades B12 260 ng/L to low: deficiency, untreated.
    ("mon-ckd-patient-view", VIEW, combined(without_conditions, lab("33914-3", value=60)), LOW_UNTREATED, True),
    ("mon-ckd-patient-view", VIEW, combined(without_conditions, lab("33914-3", value=59)), LOW_UNTREATED, False),
    # Review due (rev 2): the course began 90 or more days ago (28 in pregnancy) with no Hb since ...
    ("rev2-review-3-months-view", VIEW, course_started(89), "monitoring.review-due", False),
    ("rev2-review-3-months-view", VIEW, course_started(91), "monitoring.review-due", True),
    ("rev2-review-pregnant-view", VIEW, course_started(27), "monitoring.review-due", False),
    ("rev2-review-pregnant-view", VIEW, course_started(29), "monitoring.review-due", True),
    # ... an Hb dated after the course began is the first review ...
    ("rev2-review-3-months-view", VIEW, observation_dated("obs-hb", 101), "monitoring.review-due", False),
    ("rev2-review-3-months-view", VIEW, observation_dated("obs-hb", 103), "monitoring.review-due", True),
    # ... then yearly: the newest Hb older than 365 days.
    ("rev2-review-yearly-view", VIEW, observation_dated("obs-hb", 364), "monitoring.review-due", False),
    ("rev2-review-yearly-view", VIEW, observation_dated("obs-hb", 366), "monitoring.review-due", True),
]


@pytest.mark.parametrize(("fixture", "service", "change", "rule", "fires"), CASES, ids=[
    f"{index}-{case[0]}-{case[3]}-{'fires' if case[4] else 'quiet'}" for index, case in enumerate(CASES)])
def test_rule_either_side_of_threshold(client, fixture, service, change, rule, fires):
    request = fixture_request(f"requests/{fixture}.json")
    change(request)
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    assert (rule in topics(response)) is fires
