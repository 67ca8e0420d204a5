"""A real uvicorn server on 127.0.0.1 in a background thread, for tests that need one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import uvicorn

from cds.api import create_app
from cds.config import Settings
from cds.runtime import RuleRuntime


@contextmanager
def live_server(settings: Settings, runtime: RuleRuntime) -> Iterator[str]:
    """Serve `runtime` until the block ends; yields the base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
