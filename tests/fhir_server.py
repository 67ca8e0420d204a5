"""A real FHIR server on 127.0.0.1 that answers every GET with one chosen fault (or a good Bundle)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = "application/fhir+json"


class FaultServer(ThreadingHTTPServer):
    """Serves `bundle` as its searchset, spoiled by `fault`; counts the requests it was sent."""

    daemon_threads = True

    def __init__(self, bundle: dict[str, Any]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bundle = bundle
        self.fault = "ok"
        self.hits = 0
        self.redirect_to = ""                # the "redirect" fault's target (path after /r4 kept)
        self.released = threading.Event()  # set at teardown: a hanging handler stops waiting

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/r4"


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:
        self.server.hits += 1
        with contextlib.suppress(OSError):  # the client hangs up on a fault, as it should
            FAULTS[self.server.fault](self)

    def send(self, status: int, body: bytes, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def _page(handler: _Handler, number: int) -> dict[str, Any]:
    """Page `number` of an endless search: the data first, then empty pages, each linking on."""
    page = dict(handler.server.bundle) if number == 1 else {"resourceType": "Bundle", "type": "searchset"}
    page["link"] = [{"relation": "next", "url": f"{handler.server.url}/page/{number + 1}"}]
    return page


def _endless(handler: _Handler) -> None:
    number = int(handler.path.rsplit("/", 1)[1]) if "/page/" in handler.path else 1
    handler.send(200, json.dumps(_page(handler, number)).encode())


def _hang(handler: _Handler) -> None:
    handler.server.released.wait(10)


def _huge(handler: _Handler, declared: bool) -> None:
    """50 MB of a valid Bundle, its length declared up front or not (then it ends when the connection does)."""
    entry = json.dumps(handler.server.bundle["entry"][0]).encode() + b","
    head, tail, count = b'{"resourceType": "Bundle", "type": "searchset", "entry": [', b"{}]}", 50 * 2**20 // len(entry)
    handler.send_response(200)
    handler.send_header("Content-Type", JSON)
    if declared:
        handler.send_header("Content-Length", str(len(head) + count * len(entry) + len(tail)))
    else:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(head)
    for _ in range(count):
        handler.wfile.write(entry)
    handler.wfile.write(tail)


def _drip(handler: _Handler) -> None:
    """Headers at once, then the good Bundle one byte every 50 ms."""
    body = json.dumps(handler.server.bundle).encode()
    handler.send(200, b"", length=len(body))
    for byte in body:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        if handler.server.released.wait(0.05):
            return


def _redirect(handler: _Handler) -> None:
    """302 to `redirect_to`; a request that already came by a redirect (its path begins /moved) is served."""
    if handler.path.startswith("/moved"):
        FAULTS["ok"](handler)
        return
    handler.send_response(302)
    handler.send_header("Location", handler.server.redirect_to + handler.path.removeprefix("/r4"))
    handler.send_header("Content-Length", "0")
    handler.end_headers()


SECRET = "INTERNAL-ONLY admin console: db password hunter2"

FAULTS: dict[str, Callable[[_Handler], None]] = {
    "ok": lambda handler: handler.send(200, json.dumps(handler.server.bundle).encode()),
    "500": lambda handler: handler.send(500, b'{"resourceType": "OperationOutcome"}'),
    "401": lambda handler: handler.send(401, b""),
    "hang": _hang,
    "malformed-json": lambda handler: handler.send(200, b'{"resourceType": "Bundle", "entry": [{'),
    "not-a-bundle": lambda handler: handler.send(200, b'{"resourceType": "Patient", "id": "p"}'),
    "endless-next": _endless,
    "50-mb": lambda handler: _huge(handler, declared=False),
    "50-mb-declared": lambda handler: _huge(handler, declared=True),
    "drip": _drip,
    "redirect": _redirect,
    "leaky-404": lambda handler: handler.send(404, (SECRET * 100).encode()),
    "leaky-not-a-bundle": lambda handler: handler.send(200, json.dumps({"resourceType": SECRET * 100}).encode()),
}


@contextlib.contextmanager
def fault_server(bundle: dict[str, Any]) -> Iterator[FaultServer]:
    """Start the server on a free port; stop it (and release hanging handlers) afterwards."""
    server = FaultServer(bundle)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
