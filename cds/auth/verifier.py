"""CDS Hooks 2.0 bearer token checks: ES384/RS384 from an allowlisted issuer, aud, exp, iat, jti.

`verify` is async: waiting for a key set's fetch happens on the event loop (never on a worker
thread), so callers of an issuer whose key server stalls hold nothing another issuer needs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
import jwt
from anyio import to_thread

from cds.auth.issuers import Issuer
from cds.auth.keys import KeySet, PublicKey
from cds.store.replay import ReplayCache

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"ES384", "RS384"})
LEEWAY_S = 30
MAX_LIFETIME_S = 3600   # CDS Hooks asks for at most 5 minutes; longer-lived tokens would swell the replay cache
MAX_AGE_S = 3600        # an iat older than this is refused: no token lives that long (exp is at most this far)
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
POLL_S = 0.01           # how often a caller waiting for a key fetch looks


class InvalidToken(Exception):
    """Why a token was refused: for the service's log, never for the caller."""


@dataclass(frozen=True)
class KeyWanted:
    """Where a token's key is to be found: the issuer, the key set and the kid."""

    issuer: Issuer
    keys: KeySet
    kid: str
    alg: str


class TokenVerifier:
    def __init__(self, issuers: dict[str, Issuer], replay: ReplayCache, *, leeway_s: int = LEEWAY_S):
        self.issuers = issuers
        self.replay = replay
        self.leeway_s = leeway_s

    async def verify(self, token: str, audiences: list[str]) -> tuple[Issuer, dict[str, Any]]:
        """The issuer and the token's claims, or InvalidToken. `aud` must name one of `audiences`
        (a string or an array of strings); the jti is spent only once everything else holds."""
        wanted = self.key_wanted(token)
        key = await _key(wanted)
        claims = self.claims(token, wanted, key, audiences)
        if not await to_thread.run_sync(self.replay.first_use, wanted.issuer.iss, claims["jti"], int(claims["exp"])):
            raise InvalidToken(f"jti replayed for issuer {wanted.issuer.iss!r}")
        return wanted.issuer, claims

    def key_wanted(self, token: str) -> KeyWanted:
        """The allowlisted issuer and key set a token names. A `jku` that is not allowlisted for
        the issuer is ignored (never fetched): the key is then the issuer's own by kid."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise InvalidToken(f"malformed token ({type(error).__name__})") from None
        if not isinstance(header.get("alg"), str) or header["alg"] not in ALGORITHMS:
            raise InvalidToken(f"algorithm {str(header.get('alg'))[:20]!r} is not allowed")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise InvalidToken(f"issuer {str(iss)[:200]!r} is not allowlisted")
        kid, jku = header.get("kid"), header.get("jku")
        if not isinstance(kid, str):
            raise InvalidToken("no kid in the header")
        keys = issuer.jku.get(jku) if isinstance(jku, str) else None
        if keys is None and jku is not None:
            log.info("jku %r is not allowlisted for %r: looking for kid %r in its configured keys",
                     str(jku)[:200], issuer.iss, kid[:100])
        keys = keys or issuer.keys
        if keys is None:
            raise InvalidToken(f"no configured keys for {issuer.iss!r} and no allowlisted jku")
        return KeyWanted(issuer, keys, kid, header["alg"])

    def claims(self, token: str, wanted: KeyWanted, key: PublicKey, audiences: list[str]) -> dict[str, Any]:
        """The claims of a token whose signature `key` verifies, or InvalidToken. PyJWT (>= 2.10) checks
        exp and a future iat with the leeway; the types and the age of the time claims are checked here."""
        if key.algorithm != wanted.alg:
            raise InvalidToken(f"key {wanted.kid[:100]!r} is for {key.algorithm}, token says {wanted.alg}")
        try:
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm], audience=audiences,
                                issuer=wanted.issuer.iss, leeway=self.leeway_s, options={"require": REQUIRED_CLAIMS})
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from None
        now = time.time()
        for name in ("exp", "iat"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
                raise InvalidToken(f"{name} is not a number")
        if claims["exp"] > now + MAX_LIFETIME_S:
            raise InvalidToken(f"exp is more than {MAX_LIFETIME_S} s away")
        if claims["iat"] < now - MAX_AGE_S:
            raise InvalidToken(f"iat is more than {MAX_AGE_S} s ago")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise InvalidToken("jti is not a non-empty string")
        return claims


async def _key(wanted: KeyWanted) -> PublicKey:
    """The key, fetching the key set if it needs it: waited for on the event loop, at most its budget."""
    fetching = wanted.keys.refresh(wanted.kid)
    if fetching is not None:
        with anyio.move_on_after(wanted.keys.budget_s):
            while not fetching.is_set():
                await anyio.sleep(POLL_S)
    key = wanted.keys.key(wanted.kid)
    if key is None:
        raise InvalidToken(f"no key {wanted.kid[:100]!r} for {wanted.issuer.iss!r} ({wanted.keys.source})")
    return key
