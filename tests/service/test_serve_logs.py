"""What `cds serve` logs, read from a real process: one start-up summary and no warning from the
project's own rules and fixtures; every line of a call with its request id; JSON or text lines
from the level set; X-Forwarded-For believed from the addresses set only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import fixture_request
from tests.live import free_port, wait_ready

SERVICE = "b12-order-sign"


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[tuple[str, Path]]:
    """`cds serve ARGS` with `env` until the block ends (then stopped); yields its URL and log file."""
    port, log = free_port(), tmp_path / "serve.log"
    tmp_path.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "cds.cli", "serve", "--port", str(port), *args],
                                   env={**os.environ, "CDS_DATA_DIR": str(tmp_path), **env}, stdout=output,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, log)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def _call_with_a_skipped_resource(base: str, request_id: str | None = None, **headers: str) -> requests.Response:
    """A call whose prefetch holds one invalid Observation (logged as skipped, in an evaluation thread)."""
    request = fixture_request("requests/unit-error-1000mg.json")
    request["prefetch"]["observations"].setdefault("entry", []).append({"resource": {
        "resourceType": "Observation", "id": "broken", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]}, "valueQuantity": {"value": "x"}}})
    if request_id:
        headers["X-Request-ID"] = request_id
    return requests.post(f"{base}/cds-services/{SERVICE}", json=request, headers=headers, timeout=10)


def test_start_up_is_one_summary_line_and_no_warning(tmp_path):
    with serving(tmp_path, "--reload-rules") as (_, log):
        pass
    lines = log.read_text().splitlines()
    assert not [line for line in lines if re.search(r"\bWARNING\b|\bERROR\b", line)], lines
    [summary] = [line for line in lines if " INFO cds [-] serving " in line]
    assert re.search(r"serving \d+ rules in \d+ packs \(\w+\) under the uk profile, "
                     r"rule examples: \d+ rules, \d+ examples: all passed; store none \(SQLite in "
                     rf"{re.escape(str(tmp_path))}\); auth none; watching \S+ for changes; 1 worker\(s\)", summary)


def test_every_json_line_of_a_call_carries_its_request_id(tmp_path):
    with serving(tmp_path, "--log-format", "json") as (base, log):
        given = _call_with_a_skipped_resource(base, "ehr-call-42")
        made = _call_with_a_skipped_resource(base)
        time.sleep(0.5)
    assert given.status_code == made.status_code == 200
    assert given.headers["X-Request-ID"] == "ehr-call-42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    records = [json.loads(line) for line in log.read_text().splitlines()]   # every line is a JSON object
    for request_id in ("ehr-call-42", made.headers["X-Request-ID"]):
        mine = [r for r in records if r["request_id"] == request_id]
        assert {r["logger"] for r in mine} == {"cds.fhir.parse", "uvicorn.access"}, mine   # skipped + access
        assert all({"time", "level", "message"} <= set(r) for r in mine)
    assert all(r["request_id"] == "-" for r in records if r["logger"] == "cds")   # outside any request


def test_a_request_id_that_is_not_a_plain_token_is_replaced(tmp_path):
    with serving(tmp_path, "--log-level", "warning") as (base, log):
        answer = _call_with_a_skipped_resource(base, "x" * 129)
        time.sleep(0.5)
    text = log.read_text()
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"]) and "x" * 129 not in text
    assert f"[{answer.headers['X-Request-ID']}] skipped invalid Observation/broken" in text
    assert "uvicorn.access" not in text and " INFO " not in text   # below the level set


def test_forwarded_for_names_the_client_only_from_allowed_addresses(tmp_path):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    with serving(tmp_path / "allowed", "--forwarded-allow-ips", "127.0.0.1") as (base, allowed):
        requests.get(f"{base}/healthz", headers=forwarded, timeout=5)
        time.sleep(0.5)
    with serving(tmp_path / "other", "--forwarded-allow-ips", "192.0.2.1") as (base, other):
        requests.get(f"{base}/healthz", headers=forwarded, timeout=5)
        time.sleep(0.5)
    assert '203.0.113.9:0 - "GET /healthz' in allowed.read_text()
    assert '127.0.0.1:' in other.read_text() and "203.0.113.9" not in other.read_text()
