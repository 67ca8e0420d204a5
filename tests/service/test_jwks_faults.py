"""JWKS hardening: a key server that stalls or drip-feeds costs its own issuer's callers a 401 within
the 1 s budget and never delays another issuer's calls (through a real `cds serve`); a jku that is
not allowlisted is never fetched; a token made exactly as the CDS Hooks Sandbox makes it is accepted
on calls and feedback with only the Sandbox's public key in `jwks_file`."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from uuid import uuid4

import jwt
import pytest
import requests
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from cds.api import create_app
from tests.conftest import fixture_request
from tests.jwt_helpers import (
    AUD,
    ISS,
    PUBLIC_URL,
    SERVICE,
    Signer,
    claims,
    file_issuer,
    jwks,
    jwks_server,
    jwt_settings,
    write_issuers,
)
from tests.live import cds_serve

pytestmark = pytest.mark.usefixtures("settled_heap")   # timed against the deadline

REQUEST = fixture_request(f"services/{SERVICE}.json")
BUDGET_S = 1.0
MARGIN_S = 0.5
OTHER_ISS = "https://other-ehr.example.org"


@contextmanager
def bad_key_server(mode: str) -> Iterator[str]:
    """A key server on 127.0.0.1 that accepts and never answers ("stall"), or answers 200 and then
    sends its body one byte every 200 ms ("drip"); yields its JWKS URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(connection: socket.socket) -> None:
        with suppress(OSError):
            connection.recv(4096)
            if mode == "drip":
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n")
                while not stop.wait(0.2):
                    connection.sendall(b" ")
            stop.wait(30)

    def accept() -> None:
        with suppress(OSError):
            while not stop.is_set():
                connection, _ = listener.accept()
                held.append(connection)
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    finally:
        stop.set()
        listener.close()
        for connection in held:
            connection.close()


def _call(base: str, token: str) -> tuple[float, int]:
    began = time.monotonic()
    response = requests.post(f"{base}/cds-services/{SERVICE}", json=REQUEST,
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return time.monotonic() - began, response.status_code


@pytest.mark.parametrize("mode", ["stall", "drip"])
def test_an_unfetchable_key_set_gives_401_within_budget_and_never_delays_another_issuer(tmp_path, mode):
    victim, other = Signer.es384("rotated"), Signer.es384("other-1")
    (tmp_path / "other.json").write_text(json.dumps(jwks(other)))
    with bad_key_server(mode) as url:
        issuers = write_issuers(tmp_path, {"iss": ISS, "jwks_url": url},
                                {"iss": OTHER_ISS, "jwks_file": "other.json"})
        with cds_serve("--auth", "jwt", "--issuers", str(issuers), "--public-url", PUBLIC_URL,
                       data_dir=str(tmp_path / "data")) as base, ThreadPoolExecutor(46) as pool:
            stalled = [pool.submit(_call, base, victim.token(claims())) for _ in range(45)]
            time.sleep(0.2)
            others = [_call(base, other.token(claims(iss=OTHER_ISS))) for _ in range(5)]
            results = [call.result() for call in stalled]
    assert {status for _, status in results} == {401}
    assert max(seconds for seconds, _ in results) <= BUDGET_S + MARGIN_S, max(results)
    assert {status for _, status in others} == {200}
    assert max(seconds for seconds, _ in others) < MARGIN_S, others


def test_a_jku_that_is_not_allowlisted_is_never_fetched(tmp_path, runtime):
    signer = Signer.es384()
    with jwks_server() as served:
        served.documents["/jwks.json"] = jwks(signer)
        client = TestClient(create_app(jwt_settings(tmp_path, file_issuer(tmp_path, signer)), runtime))
        token = signer.token(claims(), jku=served.url("/jwks.json"))
        assert client.post(f"/cds-services/{SERVICE}", json=REQUEST,
                           headers={"Authorization": f"Bearer {token}"}).status_code == 200
        stranger = Signer.es384("strangers-kid")
        served.documents["/theirs.json"] = jwks(stranger)
        refused = client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers={
            "Authorization": f"Bearer {stranger.token(claims(), jku=served.url('/theirs.json'))}"})
        assert refused.status_code == 401
        assert sum(served.hits.values()) == 0


SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def _sandbox_token(private: object, kid: str, audience: str) -> str:
    """A token as the Sandbox's jwt-generator makes it: ES384, typ JWT, its kid and jku; iss, sub,
    aud (the URL it posts to), exp = iat + 300, a uuid jti."""
    now = round(time.time())
    payload = {"iss": SANDBOX_ISS, "sub": "48163c5e-88b5-4cb3-92d3-23b800caa927", "aud": audience,
               "exp": now + 300, "iat": now, "jti": str(uuid4())}
    return jwt.encode(payload, private, algorithm="ES384",
                      headers={"typ": "JWT", "kid": kid, "jku": SANDBOX_JKU})


def test_a_token_made_as_the_cds_hooks_sandbox_makes_it_passes_calls_and_feedback(tmp_path, runtime):
    pair = json.loads((Path(__file__).parent.parent / "sandbox_keypair.json").read_text())["keys"][0]
    private = ECAlgorithm.from_jwk(pair)
    public = {name: value for name, value in pair.items() if name != "d"}
    (tmp_path / "sandbox-jwks.json").write_text(json.dumps({"keys": [public]}))
    settings = jwt_settings(tmp_path, {"iss": SANDBOX_ISS, "jwks_file": "sandbox-jwks.json"})
    client = TestClient(create_app(settings, runtime))
    call = client.post(f"/cds-services/{SERVICE}", json=REQUEST,
                       headers={"Authorization": f"Bearer {_sandbox_token(private, pair['kid'], AUD)}"})
    assert call.status_code == 200, call.text
    card = call.json()["cards"][0]["uuid"]
    feedback = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-12-06T10:00:00Z"}]}
    posted = client.post(f"/cds-services/{SERVICE}/feedback", json=feedback, headers={
        "Authorization": f"Bearer {_sandbox_token(private, pair['kid'], f'{AUD}/feedback')}"})
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"stored": 1, "alreadyStored": 0}
