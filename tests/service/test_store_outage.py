"""The store never breaks a call, through a real `cds serve --auth jwt`: with PostgreSQL stopped,
PostgreSQL frozen (every one of its processes SIGSTOPped) and SQLite on a full disk, service calls
answer 200 with their cards within the deadline, the worker's own replay cache takes over (counted),
and /readyz stays 200 saying what the store's state is."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import fixture_request, settings_for
from tests.jwt_helpers import AUD, PUBLIC_URL, SERVICE, Signer, claims, file_issuer, write_issuers
from tests.live import cds_serve
from tests.postgres import postgres_server

pytestmark = pytest.mark.usefixtures("settled_heap")   # timed against the deadline

REQUEST = fixture_request("requests/unit-error-1000mg.json")
EXPECTED = "units.mg-mcg-confusion"
DEADLINE_S = 1.5
MARGIN_S = 0.3      # loopback and the client's own work, outside the service's clock


@pytest.fixture
def signer() -> Signer:
    return Signer.es384()


@contextmanager
def jwt_service(tmp_path: Path, signer: Signer, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                database_url: str | None = None) -> Iterator[str]:
    if database_url:
        monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    issuers = write_issuers(tmp_path, file_issuer(tmp_path, signer))
    with cds_serve("--auth", "jwt", "--issuers", str(issuers), "--public-url", PUBLIC_URL,
                   data_dir=str(data_dir)) as base:
        yield base


def _call(base: str, token: str) -> tuple[float, requests.Response]:
    sent = time.monotonic()
    response = requests.post(f"{base}/cds-services/{SERVICE}", json=REQUEST,
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return time.monotonic() - sent, response


def _unavailable_count(base: str) -> float:
    for line in requests.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith("cds_replay_store_unavailable_total "):
            return float(line.split()[1])
    raise AssertionError("cds_replay_store_unavailable_total is not in /metrics")


def _calls_hold(base: str, signer: Signer, count: int = 3) -> None:
    """`count` calls with fresh tokens: each 200 with its cards within the deadline; a replay of the
    last one is still refused (by this worker's own cache)."""
    before = _unavailable_count(base)
    tokens = [signer.token(claims(aud=AUD)) for _ in range(count)]
    for token in tokens:
        seconds, response = _call(base, token)
        assert response.status_code == 200, response.text
        assert EXPECTED in {card["source"]["topic"]["code"] for card in response.json()["cards"]}
        assert seconds <= DEADLINE_S + MARGIN_S, f"answered after {seconds:.2f} s"
    assert _unavailable_count(base) >= before + count
    assert _call(base, tokens[-1])[1].status_code == 401


def _ready_but_store_down(base: str) -> None:
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["store"].startswith("unavailable"), ready.json()["store"]
    assert ready.json()["replayCache"].startswith("this worker only")


def _server_processes(url: str) -> list[int]:
    """The postmaster of the throw-away server at `url` and every process it started."""
    data = Path(parse_qs(urlsplit(url).query)["host"][0]) / "data"
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
                and _parent(entry) == postmaster]
    return [postmaster, *children]


def _parent(process: Path) -> int | None:
    with suppress(OSError, IndexError, ValueError):
        return int((process / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def test_postgresql_stopped(tmp_path, signer, monkeypatch):
    with postgres_server() as url, jwt_service(tmp_path, signer, tmp_path / "data", monkeypatch, url) as base:
        assert _call(base, signer.token(claims(aud=AUD)))[1].status_code == 200
        data = Path(parse_qs(urlsplit(url).query)["host"][0]) / "data"
        os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)   # gone, at once
        time.sleep(0.5)
        _calls_hold(base, signer)
        _ready_but_store_down(base)


def test_postgresql_frozen(tmp_path, signer, monkeypatch):
    with postgres_server() as url, jwt_service(tmp_path, signer, tmp_path / "data", monkeypatch, url) as base:
        assert _call(base, signer.token(claims(aud=AUD)))[1].status_code == 200
        frozen = _server_processes(url)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            _calls_hold(base, signer, count=6)     # more calls than the store has threads: none waits
            _ready_but_store_down(base)
        finally:
            for pid in frozen:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextmanager
def small_filesystem(megabytes: int) -> Iterator[Path]:
    """A tmpfs of this size, mounted for the block (needs root, as CI runs)."""
    mountpoint = Path(tempfile.mkdtemp(prefix="cds-small-fs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        mountpoint.rmdir()
        message = f"cannot mount a tmpfs: {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        mountpoint.rmdir()


def _fill(directory: Path) -> None:
    """Write a file until the filesystem has no byte left (ENOSPC)."""
    descriptor = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for block in (65536, 1):
            with suppress(OSError):
                while os.write(descriptor, b"\0" * block):
                    pass
    finally:
        os.close(descriptor)


def test_sqlite_on_a_full_disk(tmp_path, signer, monkeypatch):
    """The SQLite file lives on a real filesystem that is then filled up, so every write the store
    tries fails with the disk-full error the review saw (SQLITE_FULL from ENOSPC), not a simulation."""
    with small_filesystem(8) as disk, jwt_service(tmp_path, signer, disk, monkeypatch) as base:
        assert _call(base, signer.token(claims(aud=AUD)))[1].status_code == 200
        _fill(disk)
        _calls_hold(base, signer, count=20)
        ready = requests.get(f"{base}/readyz", timeout=5)      # a write that changes nothing still passes on a
        assert ready.status_code == 200                        # full disk: the failed writes show in replayCache
        assert ready.json()["replayCache"].startswith("this worker only")


def test_readyz_names_a_read_only_store_and_stays_ready(tmp_path, runtime):
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from cds.api import create_app

    with postgres_server() as url:
        client = TestClient(create_app(settings_for(tmp_path, database_url=url), runtime))
        assert client.get("/readyz").json()["store"] == "ok"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("ALTER SYSTEM SET default_transaction_read_only = on"))
            connection.execute(text("SELECT pg_reload_conf()"))
        admin.dispose()
        time.sleep(0.5)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["store"] == "read-only"
