"""The reference deployment, for real on 127.0.0.1: Debian's nginx (deploy/nginx/cds.conf.template)
in front of two `cds serve --workers 2` replicas sharing one PostgreSQL, JWT on."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import requests

from tests.conftest import edit_file, fixture_request, fresh_database
from tests.jwt_helpers import AUD, PUBLIC_URL, SERVICE, Signer, claims, file_issuer, write_issuers
from tests.topology import FAIL_TIMEOUT_S, Replica, copy_rules, nginx

SUMMARY = ("likely mg/mcg mix-up", "probable mg/mcg mix-up")
UNIT_ERROR = "requests/unit-error-1000mg.json"
LOAD_THREADS, LOAD_PAUSE_S, LOAD_MAX_CALLS, LOAD_MAX_S = 4, 0.2, 3000, 240   # the rolling restart's load, bounded


class Topology:
    def __init__(self, proxy: str, proxy_log: Path, replicas: list[Replica], signer: Signer):
        self.proxy, self.proxy_log, self.replicas, self.signer = proxy, proxy_log, replicas, signer

    def auth(self, aud: str = AUD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(claims(aud=aud))}"}

    def call(self, base: str, request: dict[str, Any] | None = None, **headers: str) -> requests.Response:
        return requests.post(f"{base}/cds-services/{SERVICE}", json=request or fixture_request(UNIT_ERROR),
                             headers={**self.auth(), **headers}, timeout=20)


@pytest.fixture(scope="module")
def topology(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("topology")
    signer = Signer.es384()
    (root / "issuers").mkdir()
    issuers = write_issuers(root / "issuers", file_issuer(root / "issuers", signer))
    shared = {"CDS_DATABASE_URL": fresh_database(postgres), "CDS_AUTH": "jwt",
              "CDS_ISSUERS": str(issuers), "CDS_PUBLIC_URL": PUBLIC_URL, "CDS_PATIENT_HASH_KEY": uuid4().hex,
              "CDS_TRUSTED_PROXIES": '["127.0.0.1"]'}
    replicas = [Replica(name, copy_rules(root / name / "rules"), {**shared, "CDS_DATA_DIR": str(root / name)},
                        root / f"{name}.log") for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.start()
        with nginx(root / "nginx", replicas) as proxy:
            yield Topology(proxy, root / "nginx" / "error.log", replicas, signer)
    finally:
        for replica in replicas:
            replica.stop()


def test_a_jti_used_on_one_replica_is_refused_on_the_other(topology):
    a, b = topology.replicas
    token = {"Authorization": f"Bearer {topology.signer.token(claims(aud=AUD))}"}
    assert topology.call(a.base, **token).status_code == 200
    replayed = topology.call(b.base, **token)
    assert replayed.status_code == 401 and replayed.headers["WWW-Authenticate"].startswith("Bearer")


def _feedback(card: dict[str, Any], outcome: str) -> dict[str, Any]:
    item = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": datetime.now(UTC).isoformat()}
    if outcome == "overridden":
        item["overrideReason"] = {"reason": card["overrideReasons"][0]}
    return {"feedback": [item]}


def test_cards_and_feedback_from_both_replicas_are_counted_once(topology):
    """Each replica serves one patient's call; the feedback on each card goes to the other replica."""
    a, b = topology.replicas
    before = _figures(topology)
    expected: Counter[tuple[str, str]] = Counter()
    for served, other, outcome in ((a, b, "accepted"), (b, a, "overridden")):
        request = fixture_request(UNIT_ERROR)
        request["hookInstance"] = str(uuid4())
        request["context"]["patientId"] = request["prefetch"]["patient"]["id"] = f"pat-{uuid4().hex[:8]}"
        cards = topology.call(served.base, request).json()["cards"]
        assert cards
        for card in cards:
            rule = card["source"]["topic"]["code"]
            expected.update({(rule, "fired"): 1, (rule, "patients"): 1, (rule, outcome): 1})
            answer = requests.post(f"{other.base}/cds-services/{SERVICE}/feedback", json=_feedback(card, outcome),
                                   headers=topology.auth(), timeout=10)
            assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30   # the card log is written in batches, off the call's path
    while True:
        after = _figures(topology)
        counted = +Counter({key: after[key] - before.get(key, 0) for key in after})
        if counted == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counted == expected


def _figures(topology: Topology) -> dict[tuple[str, str], int]:
    """(rule, figure) → count of the service's cards, from the analytics API through the proxy."""
    answer = requests.get(f"{topology.proxy}/analytics/api/rules", params={"service": SERVICE}, timeout=10,
                          headers=topology.auth(f"{PUBLIC_URL}/analytics"))
    assert answer.status_code == 200, answer.text
    return {(rule["rule_id"], figure): rule[figure] for rule in answer.json()["rules"]
            for figure in ("fired", "patients", "accepted", "overridden")}


def test_the_proxys_request_start_counts_toward_the_deadline(topology):
    """Both replicas paused for longer than the deadline (1.5 s): a call that waited at the proxy
    answers 503 (it arrived too late, by the proxy's X-Request-Start); one sent straight to a
    paused replica carries no stamp and is served."""
    a, b = topology.replicas
    answers: dict[str, requests.Response] = {}

    def send(name: str, base: str) -> None:
        answers[name] = topology.call(base)

    senders = [threading.Thread(target=send, args=("proxy", topology.proxy)),
               threading.Thread(target=send, args=("direct", a.base))]
    with a.paused(), b.paused():
        for sender in senders:
            sender.start()
        time.sleep(2.5)
    for sender in senders:
        sender.join(timeout=30)
    assert answers["proxy"].status_code == 503 and answers["proxy"].headers["Retry-After"], answers["proxy"].text
    assert answers["direct"].status_code == 200, answers["direct"].text


def test_a_rule_reload_on_one_replica_never_needs_the_other(topology):
    a, b = topology.replicas
    digest = requests.get(f"{a.base}/readyz", timeout=5).json()["rulesDigest"]
    b.stop()
    try:
        edit_file(a.rules / "packs" / "units.yaml", *SUMMARY)
        workers = _reloaded_workers(a.base, digest)
        summaries = {topology.call(topology.proxy).json()["cards"][0]["summary"] for _ in range(10)}
    finally:
        b.start()
    assert len(workers) == 2
    assert all(SUMMARY[1] in summary for summary in summaries), summaries
    assert requests.get(f"{b.base}/readyz", timeout=5).json()["rulesDigest"] == digest   # b kept its own rules


def _reloaded_workers(base: str, old_digest: str) -> set[int]:
    """Poll /readyz on fresh connections until both workers answer with a digest other than `old_digest`."""
    fresh: set[int] = set()
    deadline = time.monotonic() + 60
    while len(fresh) < 2:
        assert time.monotonic() < deadline, f"workers reloaded: {fresh}"
        ready = requests.get(f"{base}/readyz", timeout=5, headers={"Connection": "close"}).json()
        assert "reloadErrors" not in ready, ready["reloadErrors"]
        if ready["rulesDigest"] != old_digest:
            fresh.add(ready["worker"])
        time.sleep(0.05)
    return fresh


def test_a_rolling_restart_under_steady_load_loses_no_call(topology):
    statuses: Counter[int] = Counter()   # 200, -status for an answer without cards, 0 for no answer
    lock, stop = threading.Lock(), threading.Event()
    started = time.monotonic()

    def load() -> None:
        while not stop.is_set() and sum(statuses.values()) < LOAD_MAX_CALLS and time.monotonic() - started < LOAD_MAX_S:
            try:
                answer = topology.call(topology.proxy)
                status = answer.status_code if answer.status_code == 200 and answer.json()["cards"] else \
                    -answer.status_code
            except requests.RequestException:
                status = 0
            with lock:
                statuses[status] += 1
            time.sleep(LOAD_PAUSE_S)

    threads = [threading.Thread(target=load) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        for replica in topology.replicas:   # one at a time: stop, start, ready, back in nginx's rotation, the next
            time.sleep(FAIL_TIMEOUT_S + 1)
            served_before = sum(statuses.values())
            replica.stop()
            replica.start()
            assert sum(statuses.values()) > served_before, "no call was made while the replica restarted"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    print(f"rolling restart: {dict(statuses)} in {time.monotonic() - started:.1f} s")
    failures = [line for line in topology.proxy_log.read_text().splitlines() if "[error]" in line and
                "Connection refused" not in line]   # what nginx met besides the refusals it retried
    assert set(statuses) == {200} and statuses[200] >= 20, (statuses, failures[-10:])
