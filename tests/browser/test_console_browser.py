"""The analytics page in a real browser (Debian's chromium, headless, via Playwright) after real CDS
calls and feedback posts to a started service: per-rule counts and rates, plots, a rule's page; a silent
rule in no answer but counted apart. The screenshots are kept in test-artifacts/ (gitignored)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
import requests
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cds import PROJECT_ROOT
from cds.analytics.view import duration
from cds.api import create_app
from cds.runtime import RuleRuntime
from tests.conftest import FIXTURES, edit_file, fixture_request, settings_for
from tests.live import live_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVICE = "b12-order-sign"

# (fixture, patient id it is sent for, outcome of each card it gets: accepted, overridden:<reason code> or none)
CALLS = [
    ("unit-error-1000mg.json", "pat-unit-error", "accepted"),
    ("unit-error-1000mg.json", "pat-unit-error", "overridden:dose-intended"),
    ("unit-error-1000mg.json", "pat-unit-error-2", "overridden:dose-intended"),
    ("label-2000mcg-im.json", "pat-unit-error", "overridden:specialist-advice"),
    ("no-labs-im-draft.json", "pat-no-labs", "overridden:deficiency-confirmed-elsewhere"),
    ("no-labs-im-draft.json", "pat-no-labs", "none"),
    ("dietary-im-draft.json", "pat-dietary-vegan", "accepted"),
]


@dataclass
class Expected:
    """What a rule's row must say, counted from the calls and feedback sent."""

    fired: int = 0
    patients: set[str] = field(default_factory=set)
    accepted: int = 0
    overridden: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def rate(self, count: int) -> str:
        return f"{100 * count / self.fired:.0f}%"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium); "
                    ".ci/run does so before make test", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _as_patient(request: dict[str, Any], patient: str) -> dict[str, Any]:
    """The rendered fixture as another patient's call: every mention of its patient id renamed, a new hookInstance."""
    original = request["context"]["patientId"]
    renamed = json.loads(json.dumps(request).replace(f'"{original}"', f'"{patient}"')
                         .replace(f"Patient/{original}", f"Patient/{patient}"))
    return {**renamed, "hookInstance": str(uuid4())}


def _feedback(card: dict[str, Any], outcome: str) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome.partition(":")[0],
                            "outcomeTimestamp": datetime.now(UTC).isoformat()}
    if outcome.startswith("overridden:"):
        code = outcome.partition(":")[2]
        item["overrideReason"] = {"reason": next(r for r in card["overrideReasons"] if r["code"] == code)}
    return item


def _run_calls(base: str) -> dict[str, Expected]:
    """Send CALLS and their feedback; what each rule's figures must then be."""
    expected: dict[str, Expected] = {}
    for fixture, patient, outcome in CALLS:
        response = requests.post(f"{base}/cds-services/{SERVICE}",
                                 json=_as_patient(fixture_request(f"requests/{fixture}"), patient), timeout=10)
        assert response.status_code == 200, response.text
        cards = response.json()["cards"]
        assert cards, f"{fixture} for {patient} gave no card"
        for card in cards:
            rule = expected.setdefault(card["source"]["topic"]["code"], Expected())
            rule.fired += 1
            rule.patients.add(patient)
            if outcome == "none":
                continue
            posted = requests.post(f"{base}/cds-services/{SERVICE}/feedback",
                                   json={"feedback": [_feedback(card, outcome)]}, timeout=10)
            assert posted.json() == {"stored": 1, "alreadyStored": 0}, posted.text
            if outcome == "accepted":
                rule.accepted += 1
            else:
                rule.overridden += 1
                code = outcome.partition(":")[2]
                rule.reasons[code] = rule.reasons.get(code, 0) + 1
    return expected


def _api_figures(base: str, expected: dict[str, Expected]) -> dict[str, dict[str, Any]]:
    """The JSON API's figures once the card log has caught up with every card and feedback sent
    (the log is written off the request's path)."""
    want = (sum(e.fired for e in expected.values()), sum(e.accepted + e.overridden for e in expected.values()))
    deadline = time.monotonic() + 30
    while True:
        rules = requests.get(f"{base}/analytics/api/rules", timeout=10).json()["rules"]
        seen = (sum(r["fired"] for r in rules), sum(r["accepted"] + r["overridden"] for r in rules))
        if seen == want:
            return {rule["rule_id"]: rule for rule in rules}
        assert time.monotonic() < deadline, f"the card log holds {seen} (cards, feedback), not {want}"
        time.sleep(0.2)


def _row(page: Page, rule_id: str) -> dict[str, str]:
    row = page.locator(f'tr[data-rule="{rule_id}"]')
    return {column: " ".join(row.locator(f'[data-col="{column}"]').inner_text().split())
            for column in ("fired", "patients", "accept-rate", "override-rate", "top-reason", "median")}


def test_the_analytics_page_shows_what_was_sent(tmp_path, runtime, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(settings_for(tmp_path), runtime) as base:
        expected = _run_calls(base)
        api = _api_figures(base, expected)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/analytics")
        page.screenshot(path=ARTIFACTS / "analytics.png", full_page=True)

        assert set(api) == set(expected)
        for rule_id, want in expected.items():
            top = max(want.reasons.items(), key=lambda item: item[1], default=None)
            figures = api[rule_id]
            assert (figures["fired"], figures["patients"], figures["accepted"], figures["overridden"]) == \
                   (want.fired, len(want.patients), want.accepted, want.overridden), rule_id
            shown = _row(page, rule_id)
            assert shown["fired"] == str(want.fired) and shown["patients"] == str(len(want.patients)), rule_id
            assert shown["accept-rate"] == want.rate(want.accepted), rule_id
            assert shown["override-rate"] == want.rate(want.overridden), rule_id
            assert shown["median"] == duration(figures["median_seconds_to_feedback"]), rule_id
            if top is None:
                assert shown["top-reason"] == "—", rule_id
            else:
                display = runtime.current.rulebook.override_reasons["codes"][top[0]]
                assert shown["top-reason"] == f"{display} ({top[1]})", rule_id
        assert _row(page, "route.cyanocobalamin-iv")["fired"] == "0"    # a rule with no cards: listed, zeros
        assert page.locator("[data-total=fired]").inner_text() == str(sum(e.fired for e in expected.values()))

        firing = page.locator("svg.chart.firing")
        expect(firing).to_have_count(1)
        bars = firing.locator("rect.bar")
        days = {day["day"] for figures in api.values() for day in figures["firing_by_day"]}
        expect(bars).to_have_count(len(days))
        reason_charts = page.locator("svg.chart.reasons")
        expect(reason_charts).to_have_count(sum(1 for e in expected.values() if e.overridden))
        for drawn in (firing, bars.first, *(reason_charts.nth(i) for i in range(reason_charts.count()))):
            box = drawn.bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0

        page.locator('tr[data-rule="units.mg-mcg-confusion"] th a').click()
        page.wait_for_url("**/analytics/rules/units.mg-mcg-confusion?*")
        expect(page.get_by_text("ISMP: mg/mcg confusion is a recognised cause")).to_be_visible()
        expect(page.locator('[data-figure="fired"]')).to_have_text(str(expected["units.mg-mcg-confusion"].fired))
        expect(page.locator("svg.chart.reasons rect.bar")).to_have_count(1)
        page.screenshot(path=ARTIFACTS / "analytics-rule.png", full_page=True)


def test_a_silent_rule_is_in_no_answer_but_counted_apart_on_the_console(tmp_path, runtime, rules_copy, browser):
    silent = "units.mg-mcg-confusion"
    edit_file(rules_copy / "packs" / "units.yaml", f"  - id: {silent}\n", f"  - id: {silent}\n    mode: silent\n")
    shown = TestClient(create_app(settings_for(tmp_path / "shown"), runtime))   # the rule live: what it gives
    services = {}
    for service in shown.get("/cds-services").json()["services"]:
        services.setdefault(service["hook"], []).append(service["id"])
    would, patients, calls = 0, set(), 0
    with live_server(settings_for(tmp_path / "silent"), RuleRuntime(rules_copy)) as base:
        for path in sorted((FIXTURES / "requests").glob("*.json")):
            request = fixture_request(f"requests/{path.name}")
            for patient in (request["context"]["patientId"], f"{request['context']['patientId']}-again"):
                call = _as_patient(request, patient)
                for service in services[call["hook"]]:
                    answer = requests.post(f"{base}/cds-services/{service}", json=call, timeout=10)
                    live = shown.post(f"/cds-services/{service}", json=call)
                    assert answer.status_code == live.status_code, path.name
                    if answer.status_code != 200:
                        continue
                    calls += 1
                    assert silent not in {c["source"]["topic"]["code"] for c in answer.json()["cards"]}, path.name
                    fired = [c for c in live.json()["cards"] if c["source"]["topic"]["code"] == silent]
                    would += len(fired)
                    patients |= {patient} if fired else set()
        assert calls > 200 and would > 0 and len(patients) > 1
        deadline = time.monotonic() + 30
        while (figures := {r["rule_id"]: r for r in requests.get(f"{base}/analytics/api/rules", timeout=10)
                           .json()["rules"]}).get(silent, {}).get("silent_fired") != would:
            assert time.monotonic() < deadline, f"the card log holds {figures.get(silent)}, not {would} silent cards"
            time.sleep(0.2)
        assert (figures[silent]["fired"], figures[silent]["silent_patients"]) == (0, len(patients))

        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/analytics")
        page.screenshot(path=ARTIFACTS / "analytics-silent.png", full_page=True)
        expect(page.locator(f'tr[data-rule="{silent}"]')).to_have_count(0)     # not among the live rules
        row = page.locator(f'tr[data-silent-rule="{silent}"]')
        expect(row.locator('[data-col="silent-fired"]')).to_have_text(str(would))
        expect(row.locator('[data-col="silent-patients"]')).to_have_text(str(len(patients)))
        row.locator("th a").click()
        page.wait_for_url(f"**/analytics/rules/{silent}?*")
        expect(page.locator("[data-mode]")).to_have_text("silent")
        expect(page.locator('[data-figure="silent-fired"]')).to_have_text(str(would))
        expect(page.locator('[data-figure="fired"]')).to_have_text("0")
