"""uvicorn's HTTP/1.1 protocol with a timeout on the request head, and the server options that go
with it: idle, half-open or slow-header connections cannot hold file descriptors for long.

Serving with several worker processes (`cds serve --workers N`) lives here too. Both are kept
outside cds.api on purpose: each worker process unpickles its uvicorn.Config (this module's classes)
before it can answer the supervisor's health pings, and a worker that has not answered in time is
killed and replaced; so this module imports nothing heavy.

uvicorn times out an idle keep-alive connection after an answer, but not a connection that sends
part of a request head (or nothing) and waits: here every connection must complete its request
head within `header_timeout_s` of connecting or of its previous answer, or it is closed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from functools import partial
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

log = logging.getLogger(__name__)
KEEP_ALIVE_S = 5          # an idle connection after an answer (uvicorn's default, said here)
# A worker building its app (rules compiled, FHIR models built) can hold the GIL for seconds at a time
# on a busy machine: uvicorn's 5 s default took it for hung and killed it, again and again.
WORKER_HEALTHCHECK_S = 30


class HeaderTimeoutProtocol(H11Protocol):
    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_late)

    def _head_late(self) -> None:
        """Close the connection if it still has not sent a whole request head."""
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_options(header_timeout_s: float) -> dict[str, Any]:
    """uvicorn.Config options for `cds serve`."""
    return {"http": partial(HeaderTimeoutProtocol, header_timeout_s=header_timeout_s),
            "timeout_keep_alive": KEEP_ALIVE_S}


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (idle connections each hold
    one; the default soft limit is often 1024); returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            log.warning("open-file limit stays at %d: %s", soft, error)
            return soft
    return hard


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
    with these uvicorn.Config `options`; forwarded headers are the app's to read (cds.api.app)."""
    config = _TcpConfig(app, factory=True, workers=workers, host=host, port=port, log_level="info",
                        proxy_headers=False, timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **(options or {}))
    Multiprocess(config, sockets=[config.bind_socket()]).run()
