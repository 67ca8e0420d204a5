"""Service settings: command-line flags override CDS_* environment variables override defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cds import BUNDLED_RULES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_")

    host: str = "127.0.0.1"
    port: int = 8080
    rules: Path = BUNDLED_RULES
    reload_rules: bool = False
    reload_skip_examples: bool = False       # emergencies only: rules go live without passing their own examples
    data_dir: Path = Path.home() / ".local" / "share" / "cobalt-cds"
    database_url: str | None = None          # default: SQLite under data_dir
    deadline_s: float = 1.5                  # server-side answer deadline per request
    fhir_budget_s: float = 1.0               # total FHIR fetch time per request (< deadline)
    fhir_reserve_s: float = 0.2              # service.md rev 2: FHIR budget = min(budget, time left - this)
    admission_min_left_s: float = 0.3        # less left when evaluation would start: 503 (negative disables)
    fhir_connect_timeout_s: float = 0.5
    fhir_max_pages: int = 10
    fhir_max_resources: int = 1000
    max_body_bytes: int = 5 * 1024 * 1024
    workers: int = Field(1, ge=1)            # worker processes of `cds serve` (each loads the rules)
    evaluation_slots: int = 1                # rule evaluations at once per worker process (the GIL runs one)
    cors_origins: list[str] = ["*"]
    trusted_proxies: list[str] = []          # addresses/CIDRs whose X-Request-Start header is believed
    auth: Literal["none", "jwt"] = "none"    # jwt: service calls and feedback need a CDS Hooks bearer JWT (off: none)
    issuers: Path | None = None              # issuer allowlist file (YAML or JSON), for auth jwt
    public_url: str | None = None            # this service's base URL as EHRs call it: aud = <it>/cds-services/<id>
    patient_hash_key: SecretStr | None = None  # card log's patient-id HMAC key (default: a key file in data_dir)
    card_log_retention_days: int = Field(400, ge=1)  # card-log and feedback rows older than this are pruned

    @field_validator("auth", mode="before")
    @classmethod
    def _off_is_none(cls, value: object) -> object:
        """`off` says it explicitly (the container image starts with jwt): the same as none."""
        return "none" if value == "off" else value

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
