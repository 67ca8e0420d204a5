"""An override reason sent as a bare system and code (as the CDS Hooks Sandbox sends it) is named from the rules'
own catalogue in the analytics API and on the console; a code the catalogue does not know, or a reason of
another system, keeps no name (unknown is unknown)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from fastapi.testclient import TestClient

from cds.api import create_app
from tests.api.test_analytics_page import table
from tests.conftest import fixture_request

SIGN, RULE = "b12-order-sign", "units.mg-mcg-confusion"
OWN = "urn:cobalt-cds:override-reason"


def test_a_reason_without_a_display_is_named_from_the_catalogue(settings, runtime):
    catalogue = runtime.current.rulebook.override_reasons
    assert catalogue["system"] == OWN
    reasons = [{"system": OWN, "code": "dose-intended"}, {"system": OWN, "code": "dose-intended"},
               {"code": "dose-intended"}, {"system": OWN, "code": "not-in-the-catalogue"},
               {"system": "urn:another-ehr:reasons", "code": "dose-intended"}]
    with TestClient(create_app(settings, runtime)) as client:
        for reason in reasons:   # each on a card of its own (a call of its own)
            request = {**fixture_request("requests/unit-error-1000mg.json"), "hookInstance": str(uuid4())}
            [card] = [c for c in client.post(f"/cds-services/{SIGN}", json=request).json()["cards"]
                      if c["source"]["topic"]["code"] == RULE]
            posted = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [{
                "card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": datetime.now(UTC).isoformat(),
                "overrideReason": {"reason": reason}}]})
            assert posted.status_code == 200, posted.text
        client.app.state.card_log.flush()
        rules = {rule["rule_id"]: rule for rule in client.get("/analytics/api/rules").json()["rules"]}
        named = {(r["system"], r["code"]): (r["display"], r["count"]) for r in rules[RULE]["top_override_reasons"]}
        assert named == {(OWN, "dose-intended"): (catalogue["codes"]["dose-intended"], 2),
                         (None, "dose-intended"): (catalogue["codes"]["dose-intended"], 1),
                         (OWN, "not-in-the-catalogue"): (None, 1),
                         ("urn:another-ehr:reasons", "dose-intended"): (None, 1)}
        row = table(client.get("/analytics").text)[RULE]
        assert row["top-reason"] == f"{catalogue['codes']['dose-intended']} (2)"
