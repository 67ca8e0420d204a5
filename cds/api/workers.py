"""Serving with several worker processes (`cds serve --workers N`)."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


class _TcpConfig(uvicorn.Config):
    """uvicorn binds the shared socket of several workers with protocol 0, and asyncio turns Nagle's
    algorithm off only on connections accepted from an IPPROTO_TCP socket: every keep-alive answer
    then waited about 40 ms for the client's delayed ACK (uvicorn issue #3149). Bound as TCP here."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def run_workers(app: str, workers: int, host: str, port: int, options: dict[str, Any] | None = None) -> None:
    """Serve the app factory `app` ("module:function") from `workers` processes sharing one socket,
    with these uvicorn.Config `options`."""
    config = _TcpConfig(app, factory=True, workers=workers, host=host, port=port, log_level="info",
                        **(options or {}))
    Multiprocess(config, sockets=[config.bind_socket()]).run()
