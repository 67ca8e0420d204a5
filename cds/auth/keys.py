"""JWKS key sets from a file or a URL: cached, refreshed on an unknown kid at most once per interval."""

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

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = (3.05, 5.0)     # connect, read
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


def fetch_jwks_url(url: str) -> dict[str, Any]:
    """GET a JWKS with timeouts, no redirects and a size cap."""
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT_S, allow_redirects=False, stream=True,
                          headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
    except requests.RequestException as error:
        raise KeySetUnavailable(f"{url}: {type(error).__name__}") from None
    if len(body) > MAX_JWKS_BYTES:
        raise KeySetUnavailable(f"{url}: larger than {MAX_JWKS_BYTES} bytes")
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
    """One JWKS source, fetched lazily and refreshed at most once per `min_refresh_s`."""

    def __init__(self, source: str, fetch: Callable[[], dict[str, Any]], *,
                 min_refresh_s: float = MIN_REFRESH_S, max_age_s: float = MAX_AGE_S):
        self.source = source
        self._fetch = fetch
        self._min_refresh_s = min_refresh_s
        self._max_age_s = max_age_s
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None   # last attempt, successful or not
        self._lock = threading.Lock()

    def get(self, kid: str) -> PublicKey | None:
        """The key with this kid, refetching the set if the kid is unknown or the set is old (rate-limited)."""
        with self._lock:
            now = monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            wanted = age is None or age >= self._max_age_s or kid not in self._keys
            if wanted and (age is None or age >= self._min_refresh_s):
                self._refresh(now)
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        self._fetched_at = now
        try:
            self._keys = parse_jwks(self._fetch())
        except KeySetUnavailable as error:   # keep the keys we had: an outage must not lock everyone out
            log.warning("JWKS %s unavailable: %s", self.source, error)
