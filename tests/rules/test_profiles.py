"""Site profiles (clinical-rules.md §1 "Site profiles", service.md rev 3): a profile sets named values only,
names itself in /readyz, discovery and every card's pack version, and keeps card text true to its values."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cds.api import create_app
from cds.cli import app
from cds.rulebook import RulebookError, load_rulebook
from cds.runtime import RuleRuntime
from tests.conftest import edit_file, fixture_request, sample, settings_for

runner = CliRunner()


def _client(rules, profile: str, tmp_path) -> TestClient:
    return TestClient(create_app(settings_for(tmp_path, profile=profile), RuleRuntime(rules, profile=profile)))


@pytest.mark.parametrize("profile", ["uk", "us"])
def test_the_profile_is_named_in_readyz_discovery_and_every_card(profile_runtimes, tmp_path, profile):
    client = TestClient(create_app(settings_for(tmp_path), profile_runtimes[profile]))
    assert client.get("/readyz").json()["profile"] == profile
    assert all(f"Site profile: {profile} (" in s["description"] for s in client.get("/cds-services").json()["services"])
    cards = client.post("/cds-services/b12-order-sign", json=fixture_request("requests/unit-error-1000mg.json")).json()
    assert [c["extension"]["cobalt-cds"]["packVersion"].endswith(f".{profile}") for c in cards["cards"]] == [True]
    assert {c["extension"]["cobalt-cds"]["profile"] for c in cards["cards"]} == {profile}


def test_the_us_profile_changes_only_what_it_names(profile_runtimes):
    uk, us = (profile_runtimes[name].current.rulebook for name in ("uk", "us"))
    assert uk.packs["escalation"].parameters["hydroxocobalamin_min_interval_days"] == 56
    assert us.packs["escalation"].parameters["hydroxocobalamin_min_interval_days"] == 28
    assert (uk.packs["label"].parameters["cobalt_allergy_critical"],
            us.packs["label"].parameters["cobalt_allergy_critical"]) == (False, True)
    assert uk.packs["units"].parameters == us.packs["units"].parameters
    assert uk.regimens["anaemia_loading"].product.rxnorm == "317106"        # hydroxocobalamin (BNF)
    assert us.regimens["anaemia_loading"].product.rxnorm == "309594"        # cyanocobalamin (AAFP 2017)


def test_card_text_names_the_regimen_of_the_profile_in_force(profile_runtimes, tmp_path):
    """The same anaemia, under each profile: the card says, and the suggestion orders, that profile's regimen."""
    request = fixture_request("requests/rev2-anaemia-only-monthly-draft.json")
    said = {}
    for profile in ("uk", "us"):
        client = TestClient(create_app(settings_for(tmp_path / profile), profile_runtimes[profile]))
        card = next(c for c in client.post("/cds-services/b12-order-sign", json=request).json()["cards"]
                    if c["source"]["topic"]["code"] == "deficiency.neuro-or-anaemia-needs-loading")
        said[profile] = card["detail"]
        [suggestion] = card["suggestions"]
        course = suggestion["actions"][0]["resource"]
        assert course["medicationCodeableConcept"]["coding"][0]["code"] == {"uk": "317106", "us": "309594"}[profile]
        steps = [d["timing"]["repeat"]["frequency"] for d in course["dosageInstruction"]]
        assert steps == ([3] if profile == "uk" else [1, 1])
    assert "hydroxocobalamin 1 mg IM 3 times a week for 2 weeks (6 doses)" in said["uk"]
    assert "cyanocobalamin 1,000 mcg IM daily for 7 days, then weekly for 4 weeks" in said["us"]


def test_tuning_a_value_changes_every_text_that_names_it(rules_copy, tmp_path):
    edit_file(rules_copy / "facts.yaml", "significant_anaemia_hb_below: 110", "significant_anaemia_hb_below: 115")
    client = _client(rules_copy, "uk", tmp_path)
    card = next(c for c in client.post("/cds-services/b12-order-sign", json=fixture_request(
        "requests/rev2-anaemia-only-monthly-draft.json")).json()["cards"]
        if c["source"]["topic"]["code"] == "deficiency.neuro-or-anaemia-needs-loading")
    assert "Hb below 115 g/L" in card["detail"] and "110" not in card["detail"]


@pytest.mark.parametrize(("text", "message"), [
    ("parameters:\n  escalation:\n    hydroxocobalamin_interval: 28\n",
     "parameter 'hydroxocobalamin_interval' of pack 'escalation' does not exist"),
    ("parameters:\n  escalations:\n    x: 1\n", "no pack 'escalations'"),
    ("parameters:\n  label:\n    cobalt_allergy_critical: 1\n", "is a yes/no value, and the profile sets a number"),
    ("facts:\n  status:\n    b12_low: 200\n", "facts.yaml 'status.b12_low' does not exist"),
    ("regimens:\n  anaemia:\n    source: s\n    product: cyanocobalamin_injection\n    dose: {value: 1, unit: mg}\n"
     "    route: im\n    steps: [{frequency: 1, period: 1, unit: mo}]\n", "no regimen 'anaemia' in regimens.yaml"),
])
def test_a_profile_naming_what_does_not_exist_is_a_load_error_at_its_line(rules_copy, text, message):
    (rules_copy / "profiles" / "site.yaml").write_text(f"profile: site\n{text}")
    with pytest.raises(RulebookError) as raised:
        load_rulebook(rules_copy, "site")
    [error] = raised.value.errors
    assert message in error.message and error.file.endswith("site.yaml") and error.line > 1


def test_an_unknown_profile_is_refused_naming_the_known_ones(rules_copy):
    result = runner.invoke(app, ["rules", "check", str(rules_copy), "--profile", "fr"])
    assert result.exit_code == 1
    assert "no site profile 'fr'" in result.output and "uk, us" in result.output


def test_rule_examples_run_under_each_profile():
    for profile in ("uk", "us"):
        result = runner.invoke(app, ["rules", "test", "--profile", profile])
        assert result.exit_code == 0, result.output
        assert result.output.endswith(" examples: all passed\n")


def test_one_hook_instance_reaching_two_services_is_counted_and_logged_once(client, caplog):
    request = fixture_request("requests/unit-error-1000mg.json")
    request["hookInstance"] = "both-services-1"
    before = sample("cds_hook_instance_multi_service_total")
    with caplog.at_level(logging.WARNING, logger="cds.api.instances"):
        for service in ("b12-order-sign", "b12-label-check", "b12-label-check"):
            assert client.post(f"/cds-services/{service}", json=request).status_code == 200
        request["hookInstance"] = "both-services-2"
        for service in ("b12-order-sign", "b12-label-check"):
            client.post(f"/cds-services/{service}", json=request)
    assert sample("cds_hook_instance_multi_service_total") == before + 2
    assert caplog.text.count("register b12-label-check only for pharmacist verification") == 1


def test_the_same_drafts_reaching_two_services_under_two_hook_instances_are_counted(client):
    """The CDS Hooks Sandbox sends each service its own hookInstance for one order-sign."""
    request = fixture_request("requests/unit-error-1000mg.json")
    before = sample("cds_hook_instance_multi_service_total")
    for number, service in enumerate(("b12-order-sign", "b12-label-check")):
        request["hookInstance"] = f"sandbox-style-{number}"
        assert client.post(f"/cds-services/{service}", json=request).status_code == 200
    for resource in (e["resource"] for e in request["context"]["draftOrders"]["entry"]):
        resource["id"] = f"another-{resource['id']}"
    request["hookInstance"] = "sandbox-style-2"
    assert client.post("/cds-services/b12-order-sign", json=request).status_code == 200   # other drafts: another event
    assert sample("cds_hook_instance_multi_service_total") == before + 1


def test_discovery_says_the_two_order_sign_services_are_not_for_the_same_users(client):
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    for service in ("b12-order-sign", "b12-label-check"):
        assert "b12-label-check" in services[service]["usageRequirements"]
        assert "pharmacist verification" in services[service]["description"]
