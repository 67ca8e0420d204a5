"""Dangerous situations over real HTTP (issue 17; clinical-rules.md rev 3): each fixture in fhir_fixtures/rev3/
gets a card from every rule its header expects, under its site profile, with the expected indicator."""

from __future__ import annotations

import pytest

from tests.fixture_cases import SCENARIOS, assert_expected_cards, header, post_fixture

NEW_RULES = {"deficiency.neuro-maintenance-not-parenteral", "deficiency.oral-with-active-injections",
             "deficiency.undertreated", "escalation.duplicate-draft"}


def test_every_new_rule_has_a_dangerous_scenario():
    assert all(header(path)["expect"] for path in SCENARIOS)
    covered = {rule for path in SCENARIOS for rule in header(path)["expect"]}
    assert not NEW_RULES - covered, NEW_RULES - covered


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_a_dangerous_scenario_gets_its_expected_cards(profile_client, path):
    assert_expected_cards(path, post_fixture(profile_client, path))
