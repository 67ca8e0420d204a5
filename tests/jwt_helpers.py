"""Keys, tokens, issuer files and a JWKS server for the JWT tests: all made here, nothing fetched."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds.config import Settings

PUBLIC_URL = "https://cds.example.org/base"
ISS = "https://ehr.example.org"
SERVICE = "b12-order-sign"
AUD = f"{PUBLIC_URL}/cds-services/{SERVICE}"


def assert_refused(response: Any, challenge: str = 'Bearer error="invalid_token"') -> None:
    """A 401 with the challenge and the service's error shape, saying nothing of why."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.json() == {"error": "unauthorized", "detail": []}


def claims(**changes: Any) -> dict[str, Any]:
    """Claims of a fresh valid token for SERVICE; a change to None drops that claim."""
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "sub": "ehr-client", "iat": now, "exp": now + 300, "jti": uuid4().hex}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


@dataclass
class Signer:
    """A private key that signs tokens under `kid` with `alg`."""

    private: Any
    alg: str
    kid: str | None

    @classmethod
    def es384(cls, kid: str = "es-1") -> Signer:
        return cls(ec.generate_private_key(ec.SECP384R1()), "ES384", kid)

    @classmethod
    def rs384(cls, kid: str = "rs-1") -> Signer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", kid)

    def jwk(self, kid: str | None = None) -> dict[str, Any]:
        algorithm = ECAlgorithm if self.alg == "ES384" else RSAAlgorithm
        return {**algorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": kid or self.kid}

    def token(self, payload: dict[str, Any] | None = None, *, alg: str | None = None, **header: Any) -> str:
        kid = {"kid": self.kid} if self.kid else {}
        return jwt.encode(payload or claims(), self.private, algorithm=alg or self.alg, headers={**kid, **header})


def jwks(*signers: Signer) -> dict[str, Any]:
    return {"keys": [signer.jwk() for signer in signers]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A compact JWS signed by `sign`, for algorithms that PyJWT rightly refuses to produce."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """The token with its payload replaced and its signature kept."""
    head, _, signature = token.split(".")
    return f"{head}.{_b64(json.dumps(payload).encode())}.{signature}"


def write_issuers(directory: Path, *entries: dict[str, Any]) -> Path:
    path = directory / "issuers.yaml"
    path.write_text(yaml.safe_dump({"issuers": list(entries)}))
    return path


def file_issuer(directory: Path, *signers: Signer) -> dict[str, Any]:
    """An issuers-file entry for ISS whose JWKS file (written here) holds the signers' public keys."""
    (directory / "jwks.json").write_text(json.dumps(jwks(*signers)))
    return {"iss": ISS, "jwks_file": "jwks.json"}


def jwt_settings(directory: Path, *entries: dict[str, Any]) -> Settings:
    """Settings with JWT on, these issuer entries, PUBLIC_URL and a store under `directory`."""
    return Settings(data_dir=directory, auth="jwt", issuers=write_issuers(directory, *entries),
                    public_url=PUBLIC_URL + "/")


@dataclass
class JwksServer:
    """JWKS documents by path on a real HTTP server at 127.0.0.1, counting GETs per path."""

    base: str = ""
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    served = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            served.hits[self.path] += 1
            document = served.documents.get(self.path)
            body = json.dumps(document or {}).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
