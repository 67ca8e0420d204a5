"""Through a started uvicorn: concurrent patients never share facts; rules reload under load."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from cds import BUNDLED_RULES
from cds.runtime import RuleRuntime, watch_rules
from tests.conftest import fixture_request, settings_for, topics
from tests.live import cds_serve, live_server, save_until, wait_until

CASES = [  # (fixture, service); what each answers alone is the expectation under load
    ("requests/neuro-oral-draft.json", "b12-order-sign"),
    ("requests/no-labs-im-draft.json", "b12-order-sign"),
    ("requests/unit-error-1000mg.json", "b12-order-sign"),
    ("requests/unit-error-correct-dose.json", "b12-order-sign"),
    ("requests/neuro-loading-draft.json", "b12-order-sign"),
    ("requests/dietary-im-draft.json", "b12-order-sign"),
    ("requests/neuro-monthly-im-draft.json", "b12-order-select"),
    ("requests/maintenance-patient-view.json", "b12-patient-view"),
]


def _post(base: str, fixture: dict, service: str) -> requests.Response:
    return requests.post(f"{base}/cds-services/{service}", json=fixture, timeout=10)


def _signature(response: requests.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(c["uuid"], c["source"]["topic"]["code"]) for c in response.json()["cards"]]


def test_concurrent_requests_get_exactly_their_own_cards(tmp_path):
    runtime = RuleRuntime(BUNDLED_RULES)
    with live_server(settings_for(tmp_path), runtime) as base:
        requests_by_case = [(fixture_request(name), service) for name, service in CASES]
        expected = [_signature(_post(base, request, service)) for request, service in requests_by_case]
        assert any(expected) and not all(expected)  # a mix of firing and quiet patients
        work = [index % len(CASES) for index in range(240)]
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(lambda i: (i, _signature(_post(base, *requests_by_case[i]))), work))
    for index, signature in results:
        assert signature == expected[index], CASES[index]


def test_rules_reload_while_requests_are_in_flight(tmp_path, rules_copy):
    rules = rules_copy
    runtime = RuleRuntime(rules)
    stop = threading.Event()
    watcher = threading.Thread(target=watch_rules, args=(runtime, stop), daemon=True)
    watcher.start()
    request = fixture_request("requests/unit-error-1000mg.json")
    failures: list[str] = []
    summaries: list[str] = []
    done = threading.Event()

    def hammer(base: str) -> None:
        while not done.is_set():
            response = _post(base, request, "b12-order-sign")
            if response.status_code != 200:
                failures.append(response.text)
            else:
                summaries.append(response.json()["cards"][0]["summary"])

    def ready(base: str) -> dict:
        return requests.get(f"{base}/readyz", timeout=5).json()

    try:
        with live_server(settings_for(tmp_path / "data"), runtime) as base:
            workers = [threading.Thread(target=hammer, args=(base,)) for _ in range(4)]
            for worker in workers:
                worker.start()
            digest = ready(base)["rulesDigest"]
            pack = rules / "packs" / "units.yaml"
            save_until(pack, "likely mg/mcg mix-up", "probable mg/mcg mix-up",
                       lambda: ready(base)["rulesDigest"] != digest, "the edited rules to load")
            new_digest = ready(base)["rulesDigest"]
            wait_until(lambda: any("probable" in s for s in summaries), "an answer from the edited rules")
            # A broken edit is refused: the old rules keep serving and /readyz says why.
            save_until(pack, "dose_kind: mass", "dose_kind_typo: mass", lambda: "reloadErrors" in ready(base),
                       "the broken edit to be refused")
            refused = ready(base)
            answered = len(summaries) + len(failures)
            wait_until(lambda: len(summaries) + len(failures) >= answered + 20, "calls served after the refusal")
            done.set()
            for worker in workers:
                worker.join()
            final = _post(base, request, "b12-order-sign").json()["cards"][0]["summary"]
    finally:
        done.set()
        stop.set()
    assert failures == []
    assert any("likely" in s for s in summaries) and any("probable" in s for s in summaries)
    assert refused["rulesDigest"] == new_digest
    assert "units.yaml" in refused["reloadErrors"][0] and "dose_kind_typo" in refused["reloadErrors"][0]
    assert "probable mg/mcg mix-up" in final


def test_new_rule_written_only_in_yaml_is_served_after_save(tmp_path, rules_copy):
    """`cds serve --reload-rules`: a rule added by saving a YAML file is served without a restart."""
    request = fixture_request("requests/neuro-oral-draft.json")
    with cds_serve("--reload-rules", "--rules", str(rules_copy), data_dir=str(tmp_path)) as base:
        before = _post(base, request, "b12-order-sign").json()["cards"]
        count = requests.get(f"{base}/readyz", timeout=5).json()["rules"]
        save_until(rules_copy / "packs" / "route.yaml", "rules:\n", NEW_RULE,
                   lambda: requests.get(f"{base}/readyz", timeout=5).json()["rules"] == count + 1, "the new rule")
        after = _post(base, request, "b12-order-sign").json()["cards"]
    assert "route.oral-in-neuropathy-demo" not in [c["source"]["topic"]["code"] for c in before]
    card = next(c for c in after if c["source"]["topic"]["code"] == "route.oral-in-neuropathy-demo")
    assert card["indicator"] == "info" and card["summary"] == "Oral B12 drafted: 50 mcg daily"


RAISED_THRESHOLD = ("mg_mcg_confusion_above_mcg: {value: 5000,", "mg_mcg_confusion_above_mcg: {value: 2000000,")


def test_a_threshold_edit_that_fails_the_rules_own_examples_is_refused(tmp_path, rules_copy):
    """Issue 11: raising the mg/mcg threshold above 1000 mg makes units.mg-mcg-confusion fail its own
    example; the reload is refused and the 1000 mg order still gets its critical card."""
    request = fixture_request("requests/unit-error-1000mg.json")
    with cds_serve("--reload-rules", "--rules", str(rules_copy), data_dir=str(tmp_path)) as base:
        before = requests.get(f"{base}/readyz", timeout=5).json()
        save_until(rules_copy / "packs" / "units.yaml", *RAISED_THRESHOLD,
                   lambda: "reloadErrors" in requests.get(f"{base}/readyz", timeout=5).json(), "the refusal")
        after = requests.get(f"{base}/readyz", timeout=5).json()
        response = _post(base, request, "b12-order-sign")
    assert before["ruleExamples"] == "checked" and after["rulesDigest"] == before["rulesDigest"]
    assert any("units.yaml:53 [units.mg-mcg-confusion]: example fhir_fixtures/requests/unit-error-1000mg.json "
               "failed: expected fire (critical), got quiet" in error for error in after["reloadErrors"])
    assert "units.mg-mcg-confusion" in topics(response)


def test_with_examples_skipped_the_same_edit_goes_live_and_readyz_says_so(tmp_path, rules_copy):
    request = fixture_request("requests/unit-error-1000mg.json")
    with cds_serve("--reload-rules", "--reload-skip-examples", "--rules", str(rules_copy),
                   data_dir=str(tmp_path)) as base:
        before = requests.get(f"{base}/readyz", timeout=5).json()
        save_until(rules_copy / "packs" / "units.yaml", *RAISED_THRESHOLD,
                   lambda: requests.get(f"{base}/readyz", timeout=5).json()["rulesDigest"] != before["rulesDigest"],
                   "the edit to go live")
        after = requests.get(f"{base}/readyz", timeout=5).json()
        response = _post(base, request, "b12-order-sign")
    assert after["ruleExamples"] == "skipped" and "rule examples are not checked" in after["warnings"][0]
    assert "reloadErrors" not in after
    assert "units.mg-mcg-confusion" not in topics(response) and "units.dose-above-label" in topics(response)


NEW_RULE = """rules:
  - id: route.oral-in-neuropathy-demo
    title: Demo rule added at run time
    indicator: info
    when:
      - fact: draft_order
        where: {route: oral}
    card:
      summary: "Oral B12 drafted: {draft_order.dose_text} {draft_order.frequency_text}"
      detail: Added by a test to prove hot reload.
    rationale: Test only.
    tests:
      - {facts: {draft_order: {route: oral}}, expect: fire}
      - {facts: {draft_order: {route: im}}, expect: quiet}
"""




def test_identical_concurrent_calls_all_succeed(tmp_path):
    """Repeat calls share card uuids; logging them concurrently must not fail a call."""
    request = fixture_request("requests/unit-error-1000mg.json")
    server = live_server(settings_for(tmp_path), RuleRuntime(BUNDLED_RULES))
    with server as base, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: _post(base, request, "b12-order-sign").status_code, range(80)))
    assert statuses == [200] * 80
