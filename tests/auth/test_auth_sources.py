"""JWT keys and state: JWKS by URL and jku from a real local server, the shared replay cache, configuration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from typer.testing import CliRunner

import cds.auth.keys
from cds.api import create_app
from cds.auth.issuers import AuthConfigError, load_issuers
from cds.auth.keys import KeySetUnavailable, parse_jwks
from cds.cli import app as cli
from cds.store.replay import MemoryReplayCache, ReplayCache, SqlReplayCache
from tests.conftest import fixture_request
from tests.jwt_helpers import (
    ISS,
    SERVICE,
    JwksServer,
    Signer,
    assert_refused,
    file_issuer,
    jwks,
    jwks_server,
    jwt_settings,
    write_issuers,
)
from tests.postgres import postgres_server

REQUEST = fixture_request(f"services/{SERVICE}.json")


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with jwks_server() as served:
        yield served


def call(client: TestClient, token: str) -> int:
    """The status of a service call with this token; a refusal must have the full 401 shape."""
    response = client.post(f"/cds-services/{SERVICE}", json=REQUEST, headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        assert_refused(response)
    return response.status_code


def test_jwks_url_is_cached_refetched_on_an_unknown_kid_at_most_once_a_minute_and_hourly(
        tmp_path, runtime, server, monkeypatch):
    old, new = Signer.es384("old"), Signer.rs384("new")
    server.documents["/jwks"] = jwks(old)
    client = TestClient(create_app(jwt_settings(tmp_path, {"iss": ISS, "jwks_url": server.url("/jwks")}), runtime))
    assert [call(client, old.token()) for _ in range(3)] == [200, 200, 200]
    assert server.hits["/jwks"] == 1                                   # cached
    server.documents["/jwks"] = jwks(old, new)                         # the EHR rotates its keys
    assert [call(client, new.token()) for _ in range(5)] == [401] * 5  # fetched a moment ago: no refetch storm
    assert server.hits["/jwks"] == 1
    later = time.monotonic() + cds.auth.keys.MIN_REFRESH_S
    monkeypatch.setattr(cds.auth.keys, "monotonic", lambda: later)
    assert call(client, new.token()) == 200                            # unknown kid: refetched, found
    assert call(client, Signer.es384("forged").token()) == 401         # and not again for the next unknown kid
    assert server.hits["/jwks"] == 2
    server.documents["/jwks"] = jwks(new)                              # "old" is withdrawn
    much_later = later + cds.auth.keys.MAX_AGE_S + 1
    monkeypatch.setattr(cds.auth.keys, "monotonic", lambda: much_later)
    assert call(client, old.token()) == 401                            # an hour on, even a known kid refetches
    assert server.hits["/jwks"] == 3


def test_jku_is_used_only_when_allowlisted_exactly(tmp_path, runtime, server):
    ehr, impostor = Signer.es384("k1"), Signer.es384("k1")
    server.documents["/jku"] = jwks(ehr)
    server.documents["/other"] = jwks(ehr)
    server.documents["/swapped"] = jwks(impostor)
    settings = jwt_settings(tmp_path, {"iss": ISS, "jku_allowlist": [server.url("/jku"), server.url("/swapped")]})
    client = TestClient(create_app(settings, runtime))
    assert call(client, ehr.token(jku=server.url("/jku"))) == 200
    assert call(client, ehr.token()) == 401                            # no jku and no JWKS of its own
    for unlisted in (server.url("/other"), server.url("/jku/"), server.url("/jku?x=1")):
        assert call(client, ehr.token(jku=unlisted)) == 401
    assert server.hits["/other"] == 0 and server.hits["/jku/"] == 0   # an unlisted jku is never fetched
    assert call(client, ehr.token(jku=server.url("/swapped"))) == 401  # listed, but serves a different key
    assert call(client, impostor.token(jku=server.url("/jku"))) == 401


def test_replay_is_refused_across_two_apps_sharing_one_sqlite_file(tmp_path, runtime):
    signer = Signer.es384()
    settings = jwt_settings(tmp_path, file_issuer(tmp_path, signer))
    first, second = TestClient(create_app(settings, runtime)), TestClient(create_app(settings, runtime))
    token = signer.token()
    assert call(first, token) == 200
    assert call(second, token) == 401
    assert call(second, signer.token()) == 200


def test_a_jwks_keeps_only_its_usable_public_keys():
    good, private = Signer.es384("good"), Signer.es384("private")
    entries = [good.jwk(), {**private.jwk(), "d": "AAAA"}, Signer.rs384("declared-rs256").jwk() | {"alg": "RS256"},
               {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "p256"},
               {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {"kty": "RSA", "kid": "broken"}, {"kty": "EC"}, "junk"]
    assert list(parse_jwks({"keys": entries})) == ["good"]
    with pytest.raises(KeySetUnavailable):
        parse_jwks({"keys": "none"})


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def cache(request, tmp_path) -> ReplayCache:
    if request.param == "memory":
        return MemoryReplayCache()
    url = f"sqlite:///{tmp_path / 'replay.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres")
    return SqlReplayCache(create_engine(url))


def test_replay_cache_remembers_a_jti_until_its_token_expires(cache):
    now, jti = int(time.time()), uuid4().hex
    assert cache.first_use(ISS, jti, now + 60)
    assert not cache.first_use(ISS, jti, now + 60)
    assert cache.first_use("https://other-ehr.example", jti, now + 60)   # jti is scoped by issuer
    expired = uuid4().hex
    assert cache.first_use(ISS, expired, now - 1)
    assert cache.first_use(ISS, expired, now + 60)                      # its token expired: the jti may come back


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_first_uses_through_two_engines_let_exactly_one_through(request, tmp_path, kind):
    url = f"sqlite:///{tmp_path / 'replay.db'}" if kind == "sqlite" else request.getfixturevalue("postgres")
    caches = [SqlReplayCache(create_engine(url)), SqlReplayCache(create_engine(url))]
    jti, expires = uuid4().hex, int(time.time()) + 60
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: caches[i % 2].first_use(ISS, jti, expires), range(32)))
    assert results.count(True) == 1


@pytest.mark.parametrize(("entries", "message"), [
    ([{"iss": ISS}], "needs jwks_file, jwks_url or a jku_allowlist"),
    ([{"iss": ISS, "jwks_url": "ftp://keys.example"}], "not an http(s) URL"),
    ([{"iss": ISS, "jwks_file": "missing.json"}], "does not exist"),
    ([{"iss": ISS, "jku_allowlist": ["https://a.example"], "jwks": "x"}], "Extra inputs"),
    ([{"iss": ISS, "jku_allowlist": ["https://a.example"]}] * 2, "listed twice"),
])
def test_an_unusable_issuers_file_is_named_and_explained(tmp_path, entries, message):
    with pytest.raises(AuthConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_issuers(write_issuers(tmp_path, *entries))


def test_serve_with_jwt_but_without_issuers_or_public_url_exits_with_a_message(tmp_path):
    runner = CliRunner()
    env = {"CDS_DATA_DIR": str(tmp_path)}
    result = runner.invoke(cli, ["serve", "--auth", "jwt", "--public-url", "https://cds.example.org"], env=env)
    assert result.exit_code == 2 and "--auth jwt needs --issuers FILE" in result.output
    issuers = write_issuers(tmp_path, {"iss": ISS, "jku_allowlist": ["https://ehr.example.org/jwks"]})
    result = runner.invoke(cli, ["serve", "--auth", "jwt", "--issuers", str(issuers)], env=env)
    assert result.exit_code == 2 and "--auth jwt needs --public-url URL" in result.output
    result = runner.invoke(cli, ["serve", "--auth", "basic"], env=env)
    assert result.exit_code == 2 and "setting auth" in result.output
