"""JWT checking over HTTP: the negative matrix, valid ES384/RS384 tokens, open endpoints, quiet logs."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from cds.api import create_app
from tests.conftest import fixture_request
from tests.jwt_helpers import (
    AUD,
    PUBLIC_URL,
    SERVICE,
    Signer,
    assert_refused,
    claims,
    file_issuer,
    hand_made,
    jwt_settings,
    with_payload,
)

REQUEST = fixture_request(f"services/{SERVICE}.json")


@pytest.fixture(scope="module")
def es() -> Signer:
    return Signer.es384()


@pytest.fixture(scope="module")
def rs() -> Signer:
    return Signer.rs384()


@pytest.fixture
def client(tmp_path, runtime, es, rs) -> TestClient:
    """JWT on, ISS trusted with both public keys in a JWKS file."""
    return TestClient(create_app(jwt_settings(tmp_path, file_issuer(tmp_path, es, rs)), runtime))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _hs256_with_public_pem(es: Signer) -> str:
    pem = es.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return hand_made({"alg": "HS256", "typ": "JWT", "kid": es.kid}, claims(),
                     lambda data: hmac.new(pem, data, hashlib.sha256).digest())


BAD_TOKENS = {   # case: (token maker, the reason logged)
    "alg none": (lambda es: hand_made({"alg": "none", "typ": "JWT", "kid": es.kid}, claims(), lambda data: b""),
                 "algorithm 'none' is not allowed"),
    "HS256 with the public key as secret": (_hs256_with_public_pem, "algorithm 'HS256' is not allowed"),
    "alg as a list": (lambda es: hand_made({"alg": ["ES384"], "kid": es.kid}, claims(), lambda data: b"x"),
                      "algorithm \"['ES384']\" is not allowed"),
    "RS256": (lambda es: Signer(Signer.rs384().private, "RS256", "rs-1").token(), "algorithm 'RS256'"),
    "ES384 header on the RSA key's kid": (lambda es: es.token(kid="rs-1"), "is for RS384, token says ES384"),
    "wrong aud": (lambda es: es.token(claims(aud=f"{PUBLIC_URL}/cds-services/b12-label-check")), "Audience"),
    "aud with a trailing slash": (lambda es: es.token(claims(aud=AUD + "/")), "Audience"),
    "aud as a list without ours": (lambda es: es.token(claims(aud=[f"{AUD}x", "https://elsewhere.example"])),
                                   "InvalidAudienceError"),
    "aud as a list holding a number": (lambda es: es.token(claims(aud=[AUD, 7])), "InvalidAudienceError"),
    "iat as a string": (lambda es: es.token(claims(iat=str(int(time.time())))), "iat"),
    "exp as a string": (lambda es: es.token(claims(exp=str(int(time.time()) + 60))), "exp"),
    "iat ten years old": (lambda es: es.token(claims(iat=int(time.time()) - 10 * 365 * 86400)),
                          "iat is more than 3600 s ago"),
    "expired": (lambda es: es.token(claims(iat=int(time.time()) - 400, exp=int(time.time()) - 60)),
                "ExpiredSignatureError"),
    "iat in the future": (lambda es: es.token(claims(iat=int(time.time()) + 120)), "not yet valid (iat)"),
    "exp too far away": (lambda es: es.token(claims(exp=10**20)), "exp is more than 3600 s away"),
    "missing jti": (lambda es: es.token(claims(jti=None)), 'missing the "jti" claim'),
    "missing exp": (lambda es: es.token(claims(exp=None)), 'missing the "exp" claim'),
    "missing iat": (lambda es: es.token(claims(iat=None)), 'missing the "iat" claim'),
    "empty jti": (lambda es: es.token(claims(jti="")), "jti is not a non-empty string"),
    "unknown iss": (lambda es: es.token(claims(iss="https://attacker.example")), "is not allowlisted"),
    "unlisted jku, unknown kid": (lambda es: es.token(jku="https://attacker.example/jwks.json", kid="theirs"),
                                  "no key 'theirs'"),
    "wrong kid": (lambda es: es.token(kid="nobody"), "no key 'nobody'"),
    "no kid": (lambda es: Signer(es.private, "ES384", None).token(), "no kid"),
    "right kid, other key": (lambda es: Signer(Signer.es384().private, "ES384", es.kid).token(), "InvalidSignature"),
    "tampered payload": (lambda es: with_payload(es.token(), claims(sub="someone-else")), "InvalidSignature"),
    "not a JWT": (lambda es: "not.a.jwt", "malformed token"),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_bad_token_is_refused_and_only_the_log_says_why(client, es, case, caplog):
    make, reason = BAD_TOKENS[case]
    caplog.set_level(logging.INFO, logger="cds.api.auth")
    assert_refused(client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(make(es))))
    assert reason in caplog.text


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "token-without-scheme"])
def test_malformed_authorization_header_is_refused(client, header):
    assert_refused(client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers={"Authorization": header}))


def test_no_authorization_header_gets_a_bare_challenge(client):
    assert_refused(client.post(f"/cds-services/{SERVICE}", json=REQUEST), challenge="Bearer")
    assert_refused(client.post(f"/cds-services/{SERVICE}/feedback", json={}), challenge="Bearer")


@pytest.mark.parametrize("signer", ["es", "rs"])
def test_valid_es384_and_rs384_tokens_are_accepted(client, request, signer):
    response = client.post(f"/cds-services/{SERVICE}", json=REQUEST,
                           headers=bearer(request.getfixturevalue(signer).token()))
    assert response.status_code == 200, response.text
    assert "cards" in response.json()


def test_a_small_clock_skew_is_tolerated(client, es):
    token = es.token(claims(iat=int(time.time()) + 10))
    assert client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(token)).status_code == 200


def test_replayed_jti_is_refused(client, es):
    jti = uuid4().hex
    token = es.token(claims(jti=jti))
    assert client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(token)).status_code == 200
    assert_refused(client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(token)))
    another_token_same_jti = es.token(claims(jti=jti, sub="other"))
    assert_refused(client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(another_token_same_jti)))


def test_aud_may_be_an_array_naming_this_service(client, es):
    token = es.token(claims(aud=["https://elsewhere.example", AUD]))
    assert client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(token)).status_code == 200


def test_feedback_takes_the_service_url_or_its_feedback_url_as_aud(client, es):
    feedback = {"feedback": [{"card": "c-1", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}
    for aud in (AUD, f"{AUD}/feedback", [f"{AUD}/feedback"]):
        response = client.post(f"/cds-services/{SERVICE}/feedback", json=feedback,
                                headers=bearer(es.token(claims(aud=aud))))
        assert response.status_code == 200, (aud, response.text)
    for wrong in (f"{AUD}/feedback/x", f"{PUBLIC_URL}/cds-services/b12-label-check/feedback"):
        assert_refused(client.post(f"/cds-services/{SERVICE}/feedback", json=feedback,
                                   headers=bearer(es.token(claims(aud=wrong)))))
    assert_refused(client.post(f"/cds-services/{SERVICE}", json=REQUEST,   # the call itself: its own URL only
                               headers=bearer(es.token(claims(aud=f"{AUD}/feedback")))))


def test_discovery_health_readiness_and_metrics_stay_open(client):
    for path in ("/cds-services", "/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_auth_is_checked_before_the_service_is_looked_up(client):
    assert_refused(client.post("/cds-services/no-such-service", json=REQUEST), challenge="Bearer")


def test_tokens_never_reach_the_log_but_reasons_do(client, es, caplog):
    caplog.set_level(logging.DEBUG)
    sent = [es.token(), es.token(claims(aud="https://elsewhere.example")), es.token(kid="nobody"),
            with_payload(es.token(), claims(sub="x"))]
    for token in sent:
        client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers=bearer(token))
    assert "InvalidAudienceError" in caplog.text and "no key 'nobody'" in caplog.text
    for token in sent:
        for part in token.split("."):
            assert part not in caplog.text
