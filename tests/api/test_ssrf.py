"""SSRF: the service contacts only the FHIR servers allowed for the call (the token's issuer's
`fhir_servers` with auth on, `--fhir-servers` without), follows redirects only within the same
origin, never sends a URL's user:password, and its 412 never echoes what a server sent nor tells
one kind of failure from another. Real local FHIR servers count every request they get."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cds.api import create_app
from cds.fhir.client import NOT_ALLOWED, SERVER_FAILED
from tests.conftest import fixture_request, settings_for, topics
from tests.fhir_server import SECRET, FaultServer, fault_server
from tests.jwt_helpers import Signer, claims, file_issuer, jwt_settings
from tests.live import free_port

SERVICE = "b12-order-sign"
BASE = fixture_request("requests/unit-error-1000mg.json")
KEY = "conditions"
EXPECTED = "units.mg-mcg-confusion"


@pytest.fixture
def listed() -> Iterator[FaultServer]:
    """The FHIR server the allowlist names."""
    with fault_server(BASE["prefetch"][KEY]) as server:
        yield server


@pytest.fixture
def internal() -> Iterator[FaultServer]:
    """A server no allowlist names (an internal host)."""
    with fault_server(BASE["prefetch"][KEY]) as server:
        yield server


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.es384()


def body(server_url: str, *, fetch: bool) -> dict:
    """The request naming `server_url`; with `fetch`, the conditions key is left to that server."""
    request = copy.deepcopy(BASE)
    request["fhirServer"] = server_url
    request["fhirAuthorization"] = {"access_token": "ehr-bearer-token", "token_type": "Bearer", "scope": "x"}
    if fetch:
        del request["prefetch"][KEY]
    return request


def jwt_client(tmp_path, runtime, signer: Signer, fhir_servers: list[str] | None) -> TestClient:
    entry = file_issuer(tmp_path, signer) | ({"fhir_servers": fhir_servers} if fhir_servers is not None else {})
    return TestClient(create_app(jwt_settings(tmp_path, entry), runtime))


def post(client: TestClient, request: dict, signer: Signer | None = None):
    headers = {"Authorization": f"Bearer {signer.token(claims())}"} if signer else {}
    return client.post(f"/cds-services/{SERVICE}", json=request, headers=headers)


def assert_not_allowed_412(response) -> None:
    assert response.status_code == 412, response.text
    assert response.json()["detail"] == [{"field": f"prefetch.{KEY}", "message": NOT_ALLOWED}]


def test_with_auth_a_server_not_listed_for_the_issuer_is_never_contacted(tmp_path, runtime, signer, listed,
                                                                        internal):
    client = jwt_client(tmp_path, runtime, signer, [listed.url])
    assert post(client, body(listed.url, fetch=True), signer).status_code == 200
    assert listed.hits == 1
    served = post(client, body(internal.url, fetch=False), signer)       # everything in prefetch: served from it
    assert served.status_code == 200 and EXPECTED in topics(served)
    assert_not_allowed_412(post(client, body(internal.url, fetch=True), signer))
    assert internal.hits == 0


def test_an_issuer_without_fhir_servers_allows_none_and_start_up_says_so(tmp_path, runtime, signer, listed, caplog):
    caplog.set_level(logging.WARNING)
    client = jwt_client(tmp_path, runtime, signer, None)
    assert "lists no fhir_servers" in caplog.text
    assert_not_allowed_412(post(client, body(listed.url, fetch=True), signer))
    assert listed.hits == 0


@pytest.mark.parametrize(("entry", "outside"), [
    ("{url}", "{url}x"), ("{url}/", "{url}x"), ("{root}/", "{other_host}/r4"), ("{root}/", "{url}/../../admin")],
    ids=["exact", "exact with slash", "prefix", "prefix, dot segments"])
def test_entries_are_exact_bases_or_prefixes_ending_in_a_slash(tmp_path, runtime, signer, listed, entry, outside):
    names = {"url": listed.url, "root": listed.url.removesuffix("/r4"),
             "other_host": listed.url.removesuffix("/r4").replace("127.0.0.1", "localhost")}
    client = jwt_client(tmp_path, runtime, signer, [entry.format(**names)])
    assert post(client, body(listed.url, fetch=True), signer).status_code == 200
    assert_not_allowed_412(post(client, body(outside.format(**names), fetch=True), signer))
    assert listed.hits == 1


def test_https_is_required_unless_an_http_url_is_listed(tmp_path, runtime, signer, listed):
    client = jwt_client(tmp_path, runtime, signer, [listed.url.replace("http://", "https://")])
    assert_not_allowed_412(post(client, body(listed.url, fetch=True), signer))
    assert listed.hits == 0


def test_userinfo_in_the_url_is_never_sent(tmp_path, runtime, signer, listed):
    client = jwt_client(tmp_path, runtime, signer, [listed.url])
    with_userinfo = listed.url.replace("http://", "http://admin:hunter2@")
    assert_not_allowed_412(post(client, body(with_userinfo, fetch=True), signer))
    assert listed.hits == 0


def test_redirects_are_followed_only_within_the_same_origin(tmp_path, runtime, signer, listed, internal):
    client = jwt_client(tmp_path, runtime, signer, [listed.url])
    listed.fault, listed.redirect_to = "redirect", internal.url
    answer = post(client, body(listed.url, fetch=True), signer)
    assert answer.status_code == 412 and answer.json()["detail"][0]["message"] == SERVER_FAILED
    assert listed.hits == 1 and internal.hits == 0
    listed.redirect_to, listed.hits = listed.url.removesuffix("/r4") + "/moved/r4", 0   # same origin: followed
    followed = post(client, body(listed.url, fetch=True), signer)
    assert followed.status_code == 200 and listed.hits == 2


def test_without_auth_fhir_servers_is_the_allowlist(tmp_path, runtime, listed, internal):
    client = TestClient(create_app(settings_for(tmp_path, fhir_servers=f" {listed.url} ,"), runtime))
    assert post(client, body(listed.url, fetch=True)).status_code == 200
    assert_not_allowed_412(post(client, body(internal.url, fetch=True)))
    assert internal.hits == 0


def test_without_auth_and_without_a_list_any_http_server_is_fetched(client, internal):
    assert post(client, body(internal.url, fetch=True)).status_code == 200
    assert internal.hits == 1


@pytest.mark.parametrize("value", ["not a url", "ftp://fhir.example.org/r4", "http://", "http://host:99999/r4"])
def test_a_malformed_fhir_server_is_a_400_on_the_field(client, value):
    response = post(client, body(value, fetch=False))
    assert response.status_code == 400, response.text
    assert [item["field"] for item in response.json()["detail"]] == ["fhirServer"]


def test_a_412_never_echoes_content_nor_tells_failures_apart(client, listed):
    """An HTTP error with a body, a non-Bundle answer, a timeout and a closed port all give the same
    412: no port-scan oracle in its text, nothing of what the server sent, at most 100 characters."""
    answers = []
    for fault in ("leaky-404", "leaky-not-a-bundle", "500", "hang"):
        listed.fault = fault
        answers.append(post(client, body(listed.url, fetch=True)))
    answers.append(post(client, body(f"http://127.0.0.1:{free_port()}/r4", fetch=True)))   # nothing listens
    assert {answer.status_code for answer in answers} == {412}
    assert len({answer.text for answer in answers}) == 1
    assert SECRET[:20] not in answers[0].text and len(answers[0].json()["detail"][0]["message"]) <= 100


def test_cds_serve_takes_fhir_servers_and_refuses_a_malformed_one(tmp_path):
    from typer.testing import CliRunner

    from cds.cli import app as cli

    result = CliRunner().invoke(cli, ["serve", "--fhir-servers", "https://fhir.example.org/r4,not a url"],
                                env={"CDS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "setting fhir_servers" in result.output and "'not a url' is not an http(s) URL" in result.output
