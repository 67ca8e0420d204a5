"""The reference deployment on 127.0.0.1: `cds serve` replicas as process groups of their own, and
Debian's nginx in front of them with the shipped template (deploy/nginx/cds.conf.template)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import pytest

from cds import PROJECT_ROOT
from tests.live import free_port, wait_ready

NGINX = "/usr/sbin/nginx"
START_S = 180   # a bound, not a timing check: a start runs every rule example
TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "cds.conf.template"
# How long nginx leaves a replica out after a refused connection: a rolling restart waits this long
# after a replica is ready before it stops the next, or nginx would have no replica to retry on.
FAIL_TIMEOUT_S = max(int(seconds) for seconds in re.findall(r"fail_timeout=(\d+)s", TEMPLATE.read_text()))


@dataclass
class Replica:
    """`cds serve --workers 2 --reload-rules` on its own port, rules directory and log."""

    name: str
    rules: Path
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "cds.cli", "serve", "--workers", "2", "--reload-rules",
                   "--port", str(self.port), "--rules", str(self.rules)]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, env={**os.environ, **self.env}, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(self.base, self.process, self.log, timeout_s=START_S)

    def stop(self) -> None:
        """SIGTERM to the replica (its workers finish the calls they hold), then wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The replica's processes stopped (SIGSTOP): connections queue in its listen backlog."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(self.process.pid, signal.SIGCONT)


MAIN_CONF = """
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 256; }
http {
    access_log $prefix/access.log;
    client_body_temp_path $prefix/body;
    proxy_temp_path $prefix/proxy;
    include $prefix/cds.conf;
}
"""


@contextmanager
def nginx(prefix: Path, replicas: list[Replica]) -> Iterator[str]:
    """Debian's nginx with the shipped template in front of `replicas` until the block ends; yields its URL."""
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} not found: install Debian's nginx-light (.ci/run does)", pytrace=False)
    port = free_port()
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "cds.conf").write_text(Template(TEMPLATE.read_text()).safe_substitute(
        CDS_LISTEN=f"127.0.0.1:{port}", CDS_REPLICA_A=f"127.0.0.1:{replicas[0].port}",
        CDS_REPLICA_B=f"127.0.0.1:{replicas[1].port}"))
    (prefix / "nginx.conf").write_text(Template(MAIN_CONF).substitute(prefix=prefix))
    process = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, prefix / "error.log", path="/healthz", timeout_s=10)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def copy_rules(target: Path) -> Path:
    """A replica's own rules directory (as its image or volume would hold)."""
    shutil.copytree(PROJECT_ROOT / "rules", target)
    return target
