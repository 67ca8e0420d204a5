"""Real servers on 127.0.0.1 for tests: uvicorn in a thread, or `cds serve` as its own process."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import uvicorn

from cds.api import create_app
from cds.config import Settings
from cds.runtime import RuleRuntime


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """Until `condition()` holds; fails saying `what` did not happen within `timeout_s` (a bound, not
    a timing check)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def save_until(path: Path, old: str, new: str, condition: Callable[[], object], what: str,
               timeout_s: float = 60.0) -> None:
    """Replace `old` with `new` in `path` and save it again every second until `condition()` holds: a
    file watcher that was not yet watching at the first save sees a later one (no sleep before it)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    edited = text.replace(old, new, 1)
    deadline = time.monotonic() + timeout_s
    while True:
        path.write_text(edited)
        saved = time.monotonic()
        while time.monotonic() - saved < 1.0:
            if condition():
                return
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(settings: Settings, runtime: RuleRuntime) -> Iterator[str]:
    """Serve `runtime` until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, runtime), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path | None = None, path: str = "/readyz",
               timeout_s: float = 120) -> None:
    """Until GET `base``path` answers 200; fails when `process` exits first (showing `log`) or after
    `timeout_s` (a bound, not a timing check: a `cds serve` start runs every rule example)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"{process.args} exited:\n{log.read_text()[-3000:] if log else ''}"
        assert time.monotonic() < deadline, f"{base} did not become ready"
        try:
            if requests.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)


@contextmanager
def cds_serve(*args: str, data_dir: str, env: dict[str, str] | None = None, open_files: int | None = None,
              log: Path | None = None) -> Iterator[str]:
    """`cds serve ARGS` (with `env` besides this environment) as its own process on a free port until
    the block ends (started with a soft limit of `open_files` open files if given, writing its log to
    `log` if given); yields the base URL."""
    port = free_port()

    def limit_open_files() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    stderr = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "cds.cli", "serve", "--port", str(port), *args],
                               env={**os.environ, "CDS_DATA_DIR": data_dir, **(env or {})},
                               preexec_fn=limit_open_files, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if log is not None:
            stderr.close()
