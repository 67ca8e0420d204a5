"""Request fixtures that carry their own expectations: the correct-prescription panel (fhir_fixtures/panel/)
and the dangerous scenarios of clinical revision 3 (fhir_fixtures/rev3/).

Their `x-cobalt-fixture` header adds to cds.fixtures' recordedAt/patient/description:
  profile    the site profile the case is judged under ("uk" or "us")
  expect     rule ids that must give a card (rev3 scenarios; on a panel case, the info card it should get)
  indicator  the indicator of the cards of the single rule in `expect`
  sloppy     ids of resources deliberately not valid FHIR R4 (the description says why)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds.fixtures import HEADER, render_fixture
from tests.conftest import FIXTURES

PANEL = sorted((FIXTURES / "panel").glob("*.json"))
SCENARIOS = sorted((FIXTURES / "rev3").glob("*.json"))
HOOK_SERVICES = {"order-sign": "b12-order-sign", "order-select": "b12-order-select",
                 "patient-view": "b12-patient-view"}


def raw(path: Path) -> dict[str, Any]:
    """The fixture as written: its header, hook, context and any prefetch of its own."""
    return json.loads(path.read_text(encoding="utf-8"))


def header(path: Path) -> dict[str, Any]:
    return raw(path)[HEADER]


def post_fixture(profile_client, path: Path) -> Any:
    """The fixture, rendered, posted to the service for its hook under the profile its header names."""
    request = render_fixture(path)
    client = profile_client(header(path)["profile"])
    return client.post(f"/cds-services/{HOOK_SERVICES[request['hook']]}", json=request)


def rule_of(card: dict) -> str:
    return card["source"]["topic"]["code"]


def describe(cards: list[dict]) -> str:
    return "\n".join(f"  {rule_of(c)} [{c['indicator']}] {c['summary']}" for c in cards) or "  (no cards)"


def assert_expected_cards(path: Path, response: Any) -> None:
    """Every rule the header expects gave a card, with the header's indicator when it names one."""
    assert response.status_code == 200, response.text
    expected = header(path)
    cards = response.json()["cards"]
    missing = [rule for rule in expected["expect"] if rule not in {rule_of(c) for c in cards}]
    assert not missing, f"{path.name}: no card from {missing}; the cards were:\n{describe(cards)}"
    if "indicator" in expected:
        [rule] = expected["expect"]
        indicators = {c["indicator"] for c in cards if rule_of(c) == rule}
        assert indicators == {expected["indicator"]}, \
            f"{path.name}: {rule} gave {sorted(indicators)}, not {expected['indicator']}:\n{describe(cards)}"
