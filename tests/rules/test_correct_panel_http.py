"""The correct-prescription panel over real HTTP (clinical-rules.md rev 3, principle 4: a correct order is quiet).

Each fixture in fhir_fixtures/panel/ is a guideline-concordant B12 or folic-acid prescription, or a
well-controlled patient opened in the chart, written from the guideline its description cites (BNF, NICE
NG239, AAFP 2017, the US labels, the Nascobal PI, ...), not from the rules. It is posted to the service for its
hook under its site profile. At most 1 in 20 may get a warning or critical card, and the failure names each one.
"""

from __future__ import annotations

import pytest

from tests.fixture_cases import PANEL, assert_expected_cards, describe, header, post_fixture, raw, rule_of

LOUD = ("warning", "critical")


def test_the_panel_covers_both_profiles_every_hook_and_enough_cases():
    headers = [header(path) for path in PANEL]
    assert len(PANEL) >= 34
    assert {h["profile"] for h in headers} == {"uk", "us"}
    hooks = [raw(path)["hook"] for path in PANEL]
    assert set(hooks) == {"order-sign", "order-select", "patient-view"}
    assert hooks.count("patient-view") >= 2


def test_at_most_one_in_twenty_correct_prescriptions_gets_a_warning_or_critical_card(profile_client):
    loud = {}
    for path in PANEL:
        response = post_fixture(profile_client, path)
        assert response.status_code == 200, f"{path.name}: {response.text}"
        if cards := [c for c in response.json()["cards"] if c["indicator"] in LOUD]:
            loud[path.name] = cards
    flagged, report = len(loud), "\n".join(f"{name}:\n{describe(cards)}" for name, cards in loud.items())
    assert flagged * 20 <= len(PANEL), \
        f"{flagged} of {len(PANEL)} correct prescriptions got a warning or critical card:\n{report}"


@pytest.mark.parametrize("path", PANEL, ids=lambda path: path.stem)
def test_every_correct_prescription_is_read(profile_client, path):
    response = post_fixture(profile_client, path)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert "service.order-unreadable" not in {rule_of(c) for c in cards}, describe(cards)


@pytest.mark.parametrize("path", [path for path in PANEL if "expect" in header(path)], ids=lambda path: path.stem)
def test_a_correct_prescription_gets_the_card_its_header_names(profile_client, path):
    assert_expected_cards(path, post_fixture(profile_client, path))
