"""JWKS key sets from a file or a URL: cached, refreshed on an unknown kid at most once per interval.

A fetch runs in its own thread, one at a time per key set, and ends within FETCH_BUDGET_S; a caller
waits for it at most that long and then goes on with the keys known (a stalled or drip-feeding key
server costs its own issuer's callers one budget each, and nobody else anything).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from typing import Any, NamedTuple

import requests
from cryptography.hazmat.primitives.asymmetric.ec import SECP384R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK, PyJWTError

from cds.http_read import ReadBroken, ReadTooLarge, ReadTooSlow, read_within

log = logging.getLogger(__name__)

FETCH_BUDGET_S = 1.0              # a key-set fetch, connection to last byte
MAX_JWKS_BYTES = 256 * 1024
MIN_REFRESH_S = 60.0              # an unknown kid refetches at most this often per key set
MAX_AGE_S = 3600.0                # keys are refetched after this long even when every kid is known


class KeySetUnavailable(Exception):
    """The JWKS document could not be read or is not a JWKS."""


class PublicKey(NamedTuple):
    """A verification key and the one algorithm it may verify."""

    key: Any
    algorithm: str


def algorithm_for(jwk: PyJWK) -> str | None:
    """ES384 for a P-384 public key, RS384 for an RSA public key of 2048 bits or more, else None."""
    key = jwk.key
    if isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP384R1):
        return "ES384"
    if isinstance(key, RSAPublicKey) and key.key_size >= 2048:
        return "RS384"
    return None


def read_jwks_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise KeySetUnavailable(f"{path}: {error}") from None


def fetch_jwks_url(url: str, budget_s: float = FETCH_BUDGET_S) -> dict[str, Any]:
    """GET a JWKS within `budget_s` in all, without redirects, at most MAX_JWKS_BYTES."""
    deadline = monotonic() + budget_s
    try:
        with requests.get(url, timeout=budget_s, allow_redirects=False, stream=True,
                          headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            body = read_within(response, deadline, MAX_JWKS_BYTES)
    except requests.RequestException as error:
        raise KeySetUnavailable(f"{url}: {type(error).__name__}") from None
    except (ReadTooSlow, ReadTooLarge, ReadBroken) as error:
        raise KeySetUnavailable(f"{url}: {error}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise KeySetUnavailable(f"{url}: not JSON") from None


def parse_jwks(document: Any) -> dict[str, PublicKey]:
    """Usable public keys by kid: entries without a kid, private or symmetric keys, other curves,
    short RSA keys and keys whose declared `alg` is not the one allowed for them are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetUnavailable("not a JWKS: no 'keys' list")
    keys: dict[str, PublicKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        try:
            jwk = PyJWK(entry)
        except PyJWTError as error:   # PyJWKError, InvalidKeyError: a broken entry must not spoil the set
            log.warning("skipping JWKS key %r: %s", entry["kid"], error)
            continue
        algorithm = algorithm_for(jwk)
        if algorithm is None or entry.get("alg", algorithm) != algorithm:
            log.warning("skipping JWKS key %r: not an ES384 or RS384 public key", entry["kid"])
            continue
        keys[entry["kid"]] = PublicKey(jwk.key, algorithm)
    return keys


class KeySet:
    """One JWKS source, fetched lazily and refreshed at most once per `min_refresh_s`, one fetch at a time."""

    def __init__(self, source: str, fetch: Callable[[], dict[str, Any]], *,
                 min_refresh_s: float = MIN_REFRESH_S, max_age_s: float = MAX_AGE_S,
                 budget_s: float = FETCH_BUDGET_S):
        self.source = source
        self._fetch = fetch
        self._min_refresh_s = min_refresh_s
        self._max_age_s = max_age_s
        self.budget_s = budget_s
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None   # last attempt, successful or not
        self._fetching: threading.Event | None = None   # set when the fetch in flight ends
        self._lock = threading.Lock()           # held for bookkeeping only, never during a fetch

    def key(self, kid: str) -> PublicKey | None:
        """The key with this kid among those known now (never fetches)."""
        return self._keys.get(kid)

    def refresh(self, kid: str) -> threading.Event | None:
        """Start a fetch when the kid is unknown or the set is old (at most once per `min_refresh_s`,
        one at a time); the event of the fetch in flight, set when it ends, or None when none is."""
        with self._lock:
            now = monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            wanted = age is None or age >= self._max_age_s or kid not in self._keys
            if wanted and self._fetching is None and (age is None or age >= self._min_refresh_s):
                self._fetched_at = now
                self._fetching = threading.Event()
                threading.Thread(target=self._refresh, args=(self._fetching,), daemon=True,
                                 name=f"jwks {self.source}"[:60]).start()
            return self._fetching if wanted else None

    def _refresh(self, done: threading.Event) -> None:
        try:
            self._keys = parse_jwks(self._fetch())
        except KeySetUnavailable as error:   # keep the keys we had: an outage must not lock everyone out
            log.warning("JWKS %s unavailable: %s", self.source, error)
        finally:
            with self._lock:
                self._fetching = None
            done.set()
