"""Every example a rule file carries, over real HTTP, on every service where the rule applies.

An order-sign example is also sent as order-select (all drafts selected) and as the deprecated
medication-prescribe hook (drafts under context.medications), to each service whose packs include
the rule and whose hook the rule runs on, under the example's site profile.
"""

from __future__ import annotations

import pytest

from cds import BUNDLED_RULES, PROJECT_ROOT
from cds.fixtures import render_fixture
from cds.rulebook import load_rulebook
from cds.rulebook.profiles import DEFAULT_PROFILE
from tests.conftest import as_hook

RULEBOOK = load_rulebook(BUNDLED_RULES)
ORDER_HOOKS = ("order-select", "order-sign", "medication-prescribe")


def cases() -> list:
    found = []
    for rule in RULEBOOK.rules():
        for test in (test for test in rule.tests if test.fixture):   # inline facts are no request to send
            request_hook = render_fixture(PROJECT_ROOT / test.fixture)["hook"]
            hooks = ORDER_HOOKS if request_hook in ORDER_HOOKS else (request_hook,)
            for service in RULEBOOK.services.values():
                if service.hook in hooks and service.hook in rule.hooks and rule.pack in service.packs:
                    name = f"{rule.id}-{test.fixture.rsplit('/', 1)[-1]}-{service.id}-{test.profile or 'any'}"
                    found.append(pytest.param(rule.id, test, service.id, service.hook, id=name))
    return found


@pytest.mark.parametrize(("rule_id", "test", "service_id", "hook"), cases())
def test_rule_example_over_http(profile_client, rule_id, test, service_id, hook):
    request = render_fixture(PROJECT_ROOT / test.fixture)
    if request["hook"] != hook:
        request = as_hook(request, hook)
    response = profile_client(test.profile or DEFAULT_PROFILE).post(f"/cds-services/{service_id}", json=request)
    assert response.status_code == 200, response.text
    cards = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == rule_id]
    if test.expect == "quiet":
        assert cards == []
    else:  # one card per draft or result the rule matched, never two for the same one
        assert cards and len({c["uuid"] for c in cards}) == len(cards)
        if test.indicator:
            assert {c["indicator"] for c in cards} == {test.indicator}


def test_every_deficiency_and_monitoring_rule_has_firing_and_quiet_examples():
    spec_ids = {
        "deficiency.neuro-or-anaemia-needs-loading", "deficiency.mild-dietary-oral-option",
        "deficiency.malabsorption-lifelong", "deficiency.malabsorption-oral-dose-too-low",
        "deficiency.not-confirmed", "deficiency.unlikely-normal-level", "deficiency.indeterminate-check-mma",
        "deficiency.low-untreated", "monitoring.potassium-severe-anaemia", "monitoring.renal-confounds-labs",
        "monitoring.review-due", "deficiency.folic-acid-alone", "deficiency.nitrous-oxide-check-mma"}
    rules = {rule.id: rule for rule in RULEBOOK.rules()}
    assert spec_ids <= set(rules)
    for rule_id in spec_ids:
        assert {t.expect for t in rules[rule_id].tests} == {"fire", "quiet"}, rule_id


@pytest.mark.parametrize(("rule_id", "indicator"), [
    ("deficiency.neuro-or-anaemia-needs-loading", "warning"), ("deficiency.mild-dietary-oral-option", "info"),
    ("deficiency.malabsorption-lifelong", "info"), ("deficiency.malabsorption-oral-dose-too-low", "warning"),
    ("deficiency.not-confirmed", "warning"), ("deficiency.unlikely-normal-level", "info"),
    ("deficiency.indeterminate-check-mma", "info"), ("deficiency.low-untreated", "info"),
    ("monitoring.potassium-severe-anaemia", "warning"), ("monitoring.renal-confounds-labs", "info"),
    ("monitoring.review-due", "info"), ("units.mg-mcg-confusion", "critical"),
    ("deficiency.folic-acid-alone", "warning"), ("deficiency.nitrous-oxide-check-mma", "info"),
])
def test_contract_indicators(rule_id, indicator):
    assert RULEBOOK.rule(rule_id).indicator == indicator
