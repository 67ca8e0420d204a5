"""The issuer allowlist file: `issuers: [{iss, jwks_file | jwks_url, jku_allowlist, fhir_servers}]` in YAML or JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cds.auth.keys import MIN_REFRESH_S, KeySet, fetch_jwks_url, read_jwks_file
from cds.fhir.allowlist import MalformedServer, ServerAllowlist, check_url

log = logging.getLogger(__name__)


class AuthConfigError(ValueError):
    """JWT checking is switched on but cannot work as configured (message for the operator)."""


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.scheme == "http":
        log.warning("JWKS URL %s is plain http: use https in production", url)
    return url


class IssuerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    iss: str = Field(min_length=1)
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jku_allowlist: list[str] = []
    fhir_servers: list[str] = []     # FHIR servers its requests may name: exact base URLs, or prefixes ending in /

    @field_validator("fhir_servers")
    @classmethod
    def _servers(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                check_url(value)
            except MalformedServer as error:
                raise ValueError(str(error)) from None
            if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
                raise ValueError(f"{value!r}: a FHIR server URL must not carry user:password")
        return values

    @field_validator("jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("jku_allowlist")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        return [_check_url(value) for value in values]

    @model_validator(mode="after")
    def _one_source(self) -> IssuerEntry:
        if self.jwks_file is not None and self.jwks_url is not None:
            raise ValueError("give jwks_file or jwks_url, not both")
        if self.jwks_file is None and self.jwks_url is None and not self.jku_allowlist:
            raise ValueError("needs jwks_file, jwks_url or a jku_allowlist")
        return self


class IssuersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issuers: list[IssuerEntry] = Field(min_length=1)


@dataclass
class Issuer:
    """A trusted issuer: its own key set (if configured), one key set per allowlisted jku URL, and
    the FHIR servers its requests may have the service contact."""

    iss: str
    keys: KeySet | None
    jku: dict[str, KeySet] = field(default_factory=dict)
    fhir_servers: ServerAllowlist = field(default_factory=lambda: ServerAllowlist([]))


def load_issuers(path: Path, *, min_refresh_s: float = MIN_REFRESH_S) -> dict[str, Issuer]:
    """Issuers by `iss`; jwks_file paths are relative to the issuers file."""
    try:
        parsed = IssuersFile.model_validate(yaml.safe_load(path.read_text()))
    except OSError as error:
        raise AuthConfigError(f"cannot read issuers file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise AuthConfigError(f"issuers file {path} is not YAML or JSON: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in error.errors())
        raise AuthConfigError(f"issuers file {path} is invalid: {problems}") from None
    issuers: dict[str, Issuer] = {}
    for entry in parsed.issuers:
        if entry.iss in issuers:
            raise AuthConfigError(f"issuers file {path}: issuer {entry.iss!r} is listed twice")
        issuers[entry.iss] = Issuer(entry.iss, _own_keys(entry, path.parent, min_refresh_s),
                                    {url: KeySet(url, partial(fetch_jwks_url, url), min_refresh_s=min_refresh_s)
                                     for url in entry.jku_allowlist}, ServerAllowlist(entry.fhir_servers))
        if not entry.fhir_servers:
            log.warning("issuer %r lists no fhir_servers: its requests are served from prefetch only, and data "
                        "missing from prefetch gets 412", entry.iss)
    return issuers


def _own_keys(entry: IssuerEntry, base: Path, min_refresh_s: float) -> KeySet | None:
    if entry.jwks_url is not None:
        return KeySet(entry.jwks_url, partial(fetch_jwks_url, entry.jwks_url), min_refresh_s=min_refresh_s)
    if entry.jwks_file is not None:
        file = base / entry.jwks_file
        if not file.is_file():
            raise AuthConfigError(f"issuer {entry.iss!r}: jwks_file {file} does not exist")
        return KeySet(str(file), partial(read_jwks_file, file), min_refresh_s=min_refresh_s)
    return None
