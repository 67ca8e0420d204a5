"""Silent mode through HTTP: a silent rule (or pack) is evaluated and logged, marked silent, but never in a
response and never changing another card (no yield, no competing-card suggestion dropped)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds import BUNDLED_RULES
from cds.api import create_app
from cds.ruletests import run_rule_tests
from cds.runtime import RuleRuntime
from tests.conftest import FIXTURES, edit_file, fixture_request, settings_for, topics
from tests.rulebook.test_inline_examples import DEMO
from tests.stores import table_rows

SERVICE = "/cds-services/b12-order-sign"


def _silenced(rules: Path, rule_id: str) -> None:
    """Give one rule `mode: silent` in its pack file."""
    pack = rules / "packs" / f"{rule_id.partition('.')[0]}.yaml"
    edit_file(pack, f"  - id: {rule_id}\n", f"  - id: {rule_id}\n    mode: silent\n")


def _logged(client: TestClient) -> list[tuple[str, bool]]:
    client.app.state.card_log.flush()
    rows = table_rows(client.app.state.feedback.engine)["issued_cards"]
    return sorted((row["rule_id"], row["silent"]) for row in rows)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], TestClient]]:
    """A started app over a rules directory, each with a store of its own; the card log's writer runs."""
    opened: list[TestClient] = []

    def client_over(rules: Path) -> TestClient:
        settings = settings_for(tmp_path / f"data-{len(opened)}")
        client = TestClient(create_app(settings, RuleRuntime(rules)))
        client.__enter__()
        opened.append(client)
        return client

    yield client_over
    for client in opened:
        client.__exit__(None, None, None)


def test_a_silent_critical_rule_is_logged_but_drops_no_suggestion_of_another_card(rules_copy, serve):
    request = fixture_request("requests/label-published-shape-1000mg.json")
    live = serve(rules_copy).post(SERVICE, json=request).json()["cards"]
    assert {c["source"]["topic"]["code"] for c in live} == {"units.mg-mcg-confusion", "escalation.duplicate-draft"}
    duplicate = next(c for c in live if c["source"]["topic"]["code"] == "escalation.duplicate-draft")
    assert "suggestions" not in duplicate      # beside a critical card on its draft, it offers no change to it

    _silenced(rules_copy, "units.mg-mcg-confusion")
    client = serve(rules_copy)
    cards = client.post(SERVICE, json=request).json()["cards"]
    assert topics_of(cards) == ["escalation.duplicate-draft"]
    assert [s["label"] for s in cards[0]["suggestions"]] == ["Remove this second draft"]
    assert cards[0]["uuid"] == duplicate["uuid"]
    assert _logged(client) == [("escalation.duplicate-draft", False), ("units.mg-mcg-confusion", True),
                               ("units.mg-mcg-confusion", True)]


@pytest.mark.parametrize(("fixture", "silenced", "shown"), [
    ("def-pa-indeterminate-oral-100-draft.json", "deficiency.malabsorption-oral-dose-too-low",
     "deficiency.indeterminate-check-mma"),
    ("rev3-text-dose-1000-mg-monthly.json", "units.mg-mcg-confusion", "service.dose-from-text"),   # yields to any
])
def test_a_card_that_yields_to_a_silent_rule_is_shown(rules_copy, serve, fixture, silenced, shown):
    request = fixture_request(f"requests/{fixture}")
    before = topics(serve(rules_copy).post(SERVICE, json=request))
    assert silenced in before and shown not in before
    _silenced(rules_copy, silenced)
    client = serve(rules_copy)
    after = topics(client.post(SERVICE, json=request))
    assert silenced not in after and shown in after
    assert sorted(after) == sorted([*(code for code in before if code != silenced), shown])
    assert (silenced, True) in _logged(client)


def test_silent_packs_answer_no_card_to_any_fixture_and_log_every_card_silent(rules_copy, serve):
    for pack in (rules_copy / "packs").glob("*.yaml"):
        text = pack.read_text()
        pack.write_text(re.sub(r"^(version: .*)$", r"\1\nmode: silent", text, count=1, flags=re.M))
    silent, live = serve(rules_copy), serve(BUNDLED_RULES)
    fired = 0
    for path in sorted((FIXTURES / "requests").glob("*.json")):
        request = fixture_request(f"requests/{path.name}")
        service = _service_for(request["hook"])
        answer, expected = silent.post(service, json=request), live.post(service, json=request)
        assert answer.status_code == expected.status_code
        if answer.status_code == 200:
            assert answer.json()["cards"] == [], path.name
            fired += len(expected.json()["cards"])
    logged = _logged(silent)
    assert logged and all(hidden for _, hidden in logged)
    assert len(logged) == fired      # every card the live rules gave, logged silent


def test_a_rule_may_be_live_in_a_silent_pack(rules_copy, serve):
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, 'version: "2026-12-06"\n', 'version: "2026-12-06"\nmode: silent\n')
    edit_file(pack, "  - id: units.mg-mcg-confusion\n", "  - id: units.mg-mcg-confusion\n    mode: live\n")
    client = serve(rules_copy)
    assert "units.mg-mcg-confusion" in topics(client.post(SERVICE, json=fixture_request(
        "requests/unit-error-1000mg.json")))


def _service_for(hook: str) -> str:
    return {"patient-view": "/cds-services/b12-patient-view", "order-select": "/cds-services/b12-order-select",
            "medication-prescribe": "/cds-services/b12-medication-prescribe"}.get(hook, SERVICE)


def topics_of(cards: list[dict[str, Any]]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in cards]


def test_a_rule_switched_to_silent_still_passes_its_examples_and_loads(rules_copy):
    """Examples gate loading (`cds serve` checks them): a rule run silent before it goes live is judged on
    the cards it would give, fixture examples and inline ones alike, or a silent rule could never load."""
    _silenced(rules_copy, "route.cyanocobalamin-iv")                     # request-fixture examples
    (rules_copy / "packs" / "demo.yaml").write_text(DEMO.replace("pack: demo\n", "pack: demo\nmode: silent\n"))
    edit_file(rules_copy / "services.yaml", "frequency, label, escalation]", "frequency, label, escalation, demo]")
    runtime = RuleRuntime(rules_copy, check_examples=True)                # inline examples: the silent demo pack
    silent = {"route.cyanocobalamin-iv", "demo.oral-in-neuropathy", "demo.low-hb-without-mma"}
    assert all(runtime.current.rulebook.rule(rule_id).silent for rule_id in silent)
    results = [result for result in run_rule_tests(runtime.current) if result.rule.id in silent]
    assert {result.rule.id for result in results} == silent and all(result.passed for result in results)
