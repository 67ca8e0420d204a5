"""CDS Hooks 2.0 bearer token checks: ES384/RS384 from an allowlisted issuer, aud, exp, iat, jti."""

from __future__ import annotations

import time
from typing import Any

import jwt

from cds.auth.issuers import Issuer
from cds.auth.keys import PublicKey
from cds.auth.replay import ReplayCache

ALGORITHMS = frozenset({"ES384", "RS384"})
LEEWAY_S = 30
MAX_LIFETIME_S = 3600   # CDS Hooks asks for at most 5 minutes; longer-lived tokens would swell the replay cache
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]


class InvalidToken(Exception):
    """Why a token was refused: for the service's log, never for the caller."""


class TokenVerifier:
    def __init__(self, issuers: dict[str, Issuer], replay: ReplayCache, *, leeway_s: int = LEEWAY_S):
        self.issuers = issuers
        self.replay = replay
        self.leeway_s = leeway_s

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken. PyJWT (>= 2.10) checks exp and a future iat with the leeway;
        the jti is spent only once everything else holds."""
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
        key = self._key(issuer, header)
        if key.algorithm != header["alg"]:
            raise InvalidToken(f"key {header['kid'][:100]!r} is for {key.algorithm}, token says {header['alg']}")
        try:
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm], audience=audience, issuer=issuer.iss,
                                leeway=self.leeway_s, options={"require": REQUIRED_CLAIMS, "strict_aud": True})
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from None
        if int(claims["exp"]) > time.time() + MAX_LIFETIME_S:
            raise InvalidToken(f"exp is more than {MAX_LIFETIME_S} s away")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise InvalidToken("jti is not a non-empty string")
        if not self.replay.first_use(issuer.iss, claims["jti"], int(claims["exp"])):
            raise InvalidToken(f"jti replayed for issuer {issuer.iss!r}")
        return claims

    @staticmethod
    def _key(issuer: Issuer, header: dict[str, Any]) -> PublicKey:
        kid, jku = header.get("kid"), header.get("jku")
        if not isinstance(kid, str):
            raise InvalidToken("no kid in the header")
        if jku is None:
            keys = issuer.keys
        elif not isinstance(jku, str) or jku not in issuer.jku:
            raise InvalidToken(f"jku {str(jku)[:200]!r} is not allowlisted for {issuer.iss!r}")
        else:
            keys = issuer.jku[jku]
        key = keys.get(kid) if keys is not None else None
        if key is None:
            raise InvalidToken(f"no key {kid[:100]!r} for {issuer.iss!r} ({keys.source if keys else 'no JWKS'})")
        return key
