"""Service settings: command-line flags override CDS_* environment variables override defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cds import BUNDLED_RULES
from cds.fhir.allowlist import check_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_")

    host: str = "127.0.0.1"
    port: int = 8080
    rules: Path = BUNDLED_RULES
    profile: str = "uk"                      # site profile: rules/profiles/<profile>.yaml
    reload_rules: bool = False
    reload_skip_examples: bool = False       # emergencies only: rules go live without passing their own examples
    data_dir: Path = Path.home() / ".local" / "share" / "cobalt-cds"
    database_url: str | None = None          # default: SQLite under data_dir
    deadline_s: float = 1.5                  # server-side answer deadline per request
    fhir_budget_s: float = 1.0               # total FHIR fetch time per request (< deadline)
    fhir_reserve_s: float = 0.2              # service.md: FHIR budget = min(budget, time left - this)
    admission_min_left_s: float = 0.3        # less left when evaluation would start: 503 (negative disables)
    fhir_connect_timeout_s: float = 0.5
    fhir_max_pages: int = 10
    fhir_max_resources: int = 1000
    fhir_servers: Annotated[list[str] | None, NoDecode] = None  # without auth: FHIR servers allowed (None: any http(s))
    max_body_bytes: int = 5 * 1024 * 1024
    header_timeout_s: float = 10.0           # a request head must arrive within this (of connecting or answering)
    body_timeout_s: float = 10.0             # a request body must arrive within this
    body_reads: int = Field(32, ge=1)        # request bodies read at once per worker; more: 503
    workers: int = Field(1, ge=1)            # worker processes of `cds serve` (each loads the rules)
    evaluation_slots: int = 1                # rule evaluations at once per worker process (the GIL runs one)
    cors_origins: Annotated[list[str] | None, NoDecode] = None  # None: the CDS Hooks Sandbox's origins, auth off only
    trusted_proxies: list[str] = []          # addresses/CIDRs whose X-Request-Start header is believed
    auth: Literal["none", "jwt"] = "none"    # jwt: service calls and feedback need a CDS Hooks bearer JWT
    issuers: Path | None = None              # issuer allowlist file (YAML or JSON), for auth jwt
    public_url: str | None = None            # this service's base URL as EHRs call it: aud = <it>/cds-services/<id>
    patient_hash_key: SecretStr | None = None  # card log's patient-id HMAC key (default: a key file in data_dir)
    card_log_retention_days: int = Field(400, ge=1)  # card-log and feedback rows older than this are pruned

    @field_validator("fhir_servers", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [url.strip() for url in value.split(",") if url.strip()] if isinstance(value, str) else value

    @field_validator("fhir_servers")
    @classmethod
    def _server_urls(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            check_url(value)   # a MalformedServer is a ValueError: pydantic reports it
        return values

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("public_url must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    def feedback_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'feedback.db'}"
