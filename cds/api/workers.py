"""Serving with several worker processes (`cds serve --workers N`)."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

# A worker building its app (rules compiled, FHIR models built) can hold the GIL for seconds at a time
# on a busy machine: uvicorn's 5 s default took it for hung and killed it, again and again.
WORKER_HEALTHCHECK_S = 30


class _TcpConfig(uvicorn.Config):
    """uvicorn binds the shared socket of several workers with protocol 0, and asyncio turns Nagle's
    algorithm off only on connections accepted from an IPPROTO_TCP socket: every keep-alive answer
    then waited about 40 ms for the client's delayed ACK (uvicorn issue #3149). Bound as TCP here."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def run_workers(app: str, workers: int, host: str, port: int, log_config: dict[str, Any] = LOGGING_CONFIG) -> None:
    """Serve the app factory `app` ("module:function") from `workers` processes sharing one socket,
    logging as `log_config` says (cds.logs); forwarded headers are the app's to read (cds.api.app)."""
    config = _TcpConfig(app, factory=True, workers=workers, host=host, port=port, log_config=log_config,
                        proxy_headers=False, timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
