"""Slow and idle clients against a real `cds serve`: unauthenticated uploads are refused before
their body is read (memory stays bounded), half-open connections are closed after the header
timeout and never starve /healthz, and slow authenticated uploads are bounded in time and number.

Bounded: fixed counts, every socket with a timeout; 127.0.0.1 only.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress

import pytest
import requests

from tests.conftest import fixture_request
from tests.jwt_helpers import PUBLIC_URL, SERVICE, Signer, file_issuer, write_issuers
from tests.live import cds_serve

pytestmark = pytest.mark.usefixtures("settled_heap")   # timed against the deadline

BODY = json.dumps(fixture_request("requests/unit-error-1000mg.json")).encode()
FAST_S = 0.5        # /healthz under attack: as good as idle, give or take a busy machine


def _rss_mib(base: str) -> float:
    pid = requests.get(f"{base}/readyz", timeout=5).json()["worker"]
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def _healthz_seconds(base: str) -> float:
    began = time.monotonic()
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    return time.monotonic() - began


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    return connection


def _head(length: int, token: str | None = None) -> bytes:
    lines = [f"POST /cds-services/{SERVICE} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {length}"] + ([f"Authorization: Bearer {token}"] if token else [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(connection: socket.socket) -> bytes:
    """What the server sent until it closed the connection (or 10 s passed)."""
    received = b""
    with suppress(OSError):
        while chunk := connection.recv(65536):
            received += chunk
    return received


def _slow_unauthenticated_upload(base: str) -> bytes:
    """Headers for a 5 MB body, then 64 KB every 50 ms for 3 s (or until the server hangs up)."""
    with _connect(base) as connection:
        connection.sendall(_head(5_000_000, token="not-a-token"))
        with suppress(OSError):
            for _ in range(60):
                connection.sendall(b" " * 65536)
                time.sleep(0.05)
        return _answer(connection)


@pytest.fixture
def jwt_server(tmp_path) -> Iterator[str]:
    issuers = write_issuers(tmp_path, file_issuer(tmp_path, Signer.es384()))
    with cds_serve("--auth", "jwt", "--issuers", str(issuers), "--public-url", PUBLIC_URL,
                   data_dir=str(tmp_path / "data")) as base:
        yield base


def test_sixty_slow_unauthenticated_uploads_are_refused_unread(jwt_server):
    base = jwt_server
    before = _rss_mib(base)
    with ThreadPoolExecutor(61) as pool:
        uploads = [pool.submit(_slow_unauthenticated_upload, base) for _ in range(60)]
        time.sleep(1.0)
        during = [_healthz_seconds(base) for _ in range(5)]
        peak = _rss_mib(base)
        answers = [upload.result() for upload in uploads]
    assert all(answer.startswith(b"HTTP/1.1 401") for answer in answers), {answer[:40] for answer in answers}
    assert all(b"connection: close" in answer.lower() for answer in answers)
    assert max(during) < FAST_S, during
    assert peak - before < 30, f"RSS {before:.0f} -> {peak:.0f} MiB"
    assert _rss_mib(base) - before < 30


def test_half_open_connections_beyond_1024_never_starve_healthz(tmp_path, monkeypatch):
    """1,100 connections that send part of a request head and wait, against a server started with a
    soft limit of 1024 open files (it raises its own), then closed by it after the header timeout."""
    monkeypatch.setenv("CDS_HEADER_TIMEOUT_S", "3")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2500:
        pytest.skip(f"the hard limit on open files ({hard}) leaves no room above 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        with cds_serve(data_dir=str(tmp_path), open_files=1024) as base, ExitStack() as stack:
            connections = [stack.enter_context(_connect(base)) for _ in range(1100)]
            for index, connection in enumerate(connections):
                connection.sendall(b"POST /cds-services/b12-order-sign HTTP/1.1\r\nHost: x" if index % 2 else b"")
            time.sleep(0.5)
            assert max(_healthz_seconds(base) for _ in range(5)) < FAST_S
            answered = requests.post(f"{base}/cds-services/{SERVICE}", data=BODY,
                                     headers={"Content-Type": "application/json"}, timeout=10)
            assert answered.status_code == 200
            time.sleep(3.5)
            for connection in connections:
                connection.settimeout(2)
            assert all(_answer(connection) == b"" for connection in connections)   # closed by the server
            assert _healthz_seconds(base) < FAST_S
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def _uploading(base: str, sent: int) -> Iterator[socket.socket]:
    """A connection that sent the head of a full-size body and its first `sent` bytes, then waits."""
    with _connect(base) as connection:
        connection.sendall(_head(len(BODY)) + BODY[:sent])
        yield connection


def test_slow_uploads_are_bounded_in_time_and_number(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_BODY_TIMEOUT_S", "1")
    monkeypatch.setenv("CDS_BODY_READS", "2")
    with cds_serve(data_dir=str(tmp_path)) as base:
        with _uploading(base, 100) as first, _uploading(base, 100) as second:
            time.sleep(0.2)
            with _uploading(base, 100) as third:
                third.settimeout(2)
                refused = _answer(third)
            assert refused.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in refused.lower()
            began = time.monotonic()
            late = [_answer(first), _answer(second)]
            assert all(answer.startswith(b"HTTP/1.1 408") for answer in late), late
            assert time.monotonic() - began < 1.5
        answered = requests.post(f"{base}/cds-services/{SERVICE}", data=BODY,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert answered.status_code == 200
