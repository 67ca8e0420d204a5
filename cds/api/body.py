"""Decoding a request body: JSON into Python values, refused (400) when it is not JSON, holds a lone
surrogate, or nests deeper than MAX_DEPTH outside `prefetch`. Inside `prefetch` such a resource is
left to the FHIR layer, which skips it like any invalid resource.

A refused body is logged in one line: its size, a hash of it and the reason, never its content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator
from typing import Any

import orjson

log = logging.getLogger(__name__)
MAX_DEPTH = 64
UNCHECKED = "prefetch"   # the body's member whose resources the FHIR layer checks one by one


class BadBody(ValueError):
    """A body the service refuses: the message says why, in words fit for the caller."""


def decode_json(raw: bytes) -> Any:
    """orjson (several times faster on a large record); what it refuses is decoded again by the
    standard library, which accepts integers beyond 64 bits and says why anything else is not JSON.
    Both refuse NaN, Infinity and numbers beyond the double range (orjson by itself; the standard
    library, which would take them, is told to), so no answer can echo one. Raises BadBody."""
    try:
        return orjson.loads(raw)     # refuses lone surrogates: a body it takes has none
    except orjson.JSONDecodeError:
        pass
    try:
        decoded = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except _NotFinite as error:
        raise BadBody(f"request body holds {error}, which JSON cannot carry") from None
    except (ValueError, UnicodeDecodeError):
        raise BadBody("request body is not JSON") from None
    except RecursionError:
        raise BadBody(f"request body is nested deeper than {MAX_DEPTH} levels") from None
    _check_surrogates(decoded)
    return decoded


class _NotFinite(ValueError):
    pass


def _no_constant(name: str) -> float:
    raise _NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text[:20]}")
    return value


def check_depth(body: Any) -> None:
    """BadBody if anything outside `prefetch` nests deeper than MAX_DEPTH arrays and objects."""
    stack = [(value, 2) for key, value in body.items() if key != UNCHECKED] if isinstance(body, dict) else [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadBody(f"request body is nested deeper than {MAX_DEPTH} levels")
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))


def texts(value: Any) -> Iterator[str]:
    """Every string and object key in a decoded JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_surrogates(body: Any) -> None:
    """BadBody if a string or key outside `prefetch` holds a lone surrogate (it cannot be UTF-8)."""
    checked = {key: value for key, value in body.items() if key != UNCHECKED} if isinstance(body, dict) else body
    for text in texts(checked):
        try:
            text.encode()
        except UnicodeEncodeError:
            raise BadBody("request body holds a lone surrogate (text that is not Unicode)") from None


def log_refused(raw: bytes, reason: str) -> None:
    """One line for a refused body: size, SHA-256 (first 16 hex digits) and why."""
    log.warning("refused a body of %d bytes (sha256 %s): %s", len(raw), hashlib.sha256(raw).hexdigest()[:16],
                reason[:200])
