"""Start servers for a benchmark on free loopback ports, and stop them afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import requests

# The bench's own service settings: bodies up to 5,000 Observations fit (the scaling table).
SERVICE_ENV = {"CDS_MAX_BODY_BYTES": str(64 * 1024 * 1024), "CDS_FHIR_MAX_RESOURCES": "20000"}


def settings_env() -> dict[str, str]:
    """The CDS_* settings the servers run with besides the defaults: the caller's, then the bench's own."""
    caller = {name: value for name, value in os.environ.items() if name.startswith("CDS_") and name != "CDS_DATA_DIR"}
    return {**caller, **SERVICE_ENV}


@dataclass(frozen=True)
class Served:
    """A running server: its base URL and port."""

    base: str
    port: int


def service_command(workers: int) -> list[str]:
    """`cds serve` with `workers` worker processes (the port is appended)."""
    return [sys.executable, "-m", "cds.cli", "serve", "--workers", str(workers), "--port"]


def floor_command(workers: int) -> list[str]:
    """The bare FastAPI floor (bench/floor.py) under the same uvicorn settings (the port is appended)."""
    return [sys.executable, "-m", "bench.floor", "--workers", str(workers), "--port"]


@contextmanager
def serving(*commands: list[str]) -> Iterator[list[Served]]:
    """The commands started at once (each on a free port, the service with its own data dir), ready to answer."""
    with ExitStack() as stack:
        started = [stack.enter_context(_process(command)) for command in commands]
        for (served, process, log), command in zip(started, commands, strict=True):
            _wait_ready(served.base, process, log, int(command[command.index("--workers") + 1]))
        yield [served for served, _, _ in started]


@contextmanager
def _process(command: list[str]) -> Iterator[tuple[Served, subprocess.Popen[bytes], str]]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as data_dir, \
            tempfile.NamedTemporaryFile("w+", prefix="cds-bench-", suffix=".log") as log:
        env = {**os.environ, **SERVICE_ENV, "CDS_DATA_DIR": data_dir}
        process = subprocess.Popen([*command, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            yield Served(f"http://127.0.0.1:{port}", port), process, log.name
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: str, workers: int) -> None:
    """Until every worker process has answered /readyz (each names itself in `worker`): a run that
    started with one worker still loading would measure fewer cores than it says."""
    deadline, seen = time.monotonic() + 60, set()
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = requests.get(f"{base}/readyz", timeout=1, headers={"Connection": "close"})
            if response.status_code == 200:
                seen.add(response.json().get("worker"))
                if len(seen) >= workers:
                    return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    with open(log) as output:
        tail = output.read()[-2000:]
    raise RuntimeError(f"{base} did not become ready:\n{tail}")
