"""The image `make image` built, in the buildah storage it names (IMAGE_STORE): run as containers
with chroot isolation on the host's network (buildah's OCI isolation needs rlimits these machines
refuse), each ended with its process group."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IMAGE = "localhost/cobalt-cds:dev"
BUILDER = "localhost/cobalt-cds-builder:dev"


def _buildah() -> list[str]:
    store = os.environ.get("IMAGE_STORE")
    if not store:
        pytest.fail("IMAGE_STORE is not set: run these tests with make image", pytrace=False)
    return ["buildah", "--root", f"{store}/storage", "--runroot", f"{store}/run", "--storage-driver", "vfs"]


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_buildah(), *args], check=check, capture_output=True, text=True)


@contextmanager
def container(image: str) -> Iterator[str]:
    """A working container of `image` until the block ends; yields its name."""
    if buildah("inspect", "--type", "image", image, check=False).returncode != 0:
        pytest.fail(f"{image} is not built: run make image", pytrace=False)
    name = buildah("from", "--pull-never", image).stdout.strip()
    try:
        yield name
    finally:
        buildah("rm", name, check=False)


def run_args(name: str, *command: str, env: dict[str, str] | None = None, volumes: tuple[str, ...] = ()) -> list[str]:
    """The buildah command line that runs `command` in container `name` (host network, chroot)."""
    options = [f"--env={key}={value}" for key, value in (env or {}).items()]
    options += [f"--volume={volume}" for volume in volumes]
    return [*_buildah(), "run", "--isolation", "chroot", "--network", "host", *options, name, "--", *command]


@contextmanager
def started(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`args` (with exactly `env`, if given) as a process group of its own, its output in `log`,
    until the block ends."""
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
