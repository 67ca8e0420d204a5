"""Reading an HTTP response body (requests, `stream=True`) within a deadline and a size cap, however
slowly it drips: each read waits at most for the time left."""

from __future__ import annotations

import time

import requests
import urllib3


class ReadTooSlow(Exception):
    """The deadline came before the whole body."""


class ReadTooLarge(Exception):
    """The body is (or says it is) larger than allowed."""


class ReadBroken(Exception):
    """The body could not be read (a broken connection or encoding)."""


def read_within(response: requests.Response, deadline: float, max_bytes: int) -> bytes:
    """The whole body by `deadline` (time.monotonic()), at most `max_bytes` of it."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ReadTooLarge(f"declared {declared} bytes")
    chunks = []
    size = 0
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTooSlow("deadline reached")
        if sock is not None:
            sock.settimeout(remaining)
        try:
            chunk = response.raw.read1(65536, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise ReadTooSlow("deadline reached") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ReadBroken(type(error).__name__) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ReadTooLarge(f"more than {max_bytes} bytes")
        chunks.append(chunk)
