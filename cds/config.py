"""Service settings: command-line flags override CDS_* environment variables override defaults."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cds import BUNDLED_RULES
from cds.fhir.allowlist import check_url


class Settings(BaseSettings):
    """Every setting, with what it means: the README's settings table and `cds config` are made from here."""

    model_config = SettingsConfigDict(env_prefix="CDS_")

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0: every interface)")
    port: int = Field(8080, description="Port to listen on")
    rules: Path = Field(BUNDLED_RULES, description="Rules directory (packs, value sets, services)")
    profile: str = Field("uk", description="Site profile: rules/profiles/<profile>.yaml (uk: BNF and NICE; us: FDA "
                                           "labels and AAFP)")
    reload_rules: bool = Field(False, description="Watch the rules directory and reload valid changes")
    reload_skip_examples: bool = Field(False, description="Emergencies only: rules go live without passing their "
                                                          "own examples")
    data_dir: Path = Field(Path.home() / ".local" / "share" / "cobalt-cds",
                           description="Directory for the SQLite store and the patient-hash key file")
    database_url: str | None = Field(None, description="Store for feedback, card log and JWT replay cache "
                                                       "(postgresql+psycopg://…); default SQLite under data_dir")
    deadline_s: float = Field(1.5, description="Answer deadline of a service call, from its arrival")
    fhir_budget_s: float = Field(1.0, description="Total FHIR-server fetch time of a call (below the deadline)")
    fhir_reserve_s: float = Field(0.2, description="Deadline time kept for evaluation: the FHIR budget is at most "
                                                   "the time left minus this")
    admission_min_left_s: float = Field(0.3, description="Less deadline left when evaluation would start: 503 "
                                                         "(negative: never)")
    fhir_connect_timeout_s: float = Field(0.5, description="Connect timeout of one FHIR-server request")
    fhir_max_pages: int = Field(10, description="Pages of one FHIR search followed at most")
    fhir_max_resources: int = Field(1000, description="Resources read from one prefetch key or FHIR search "
                                                      "(the newest kept)")
    fhir_servers: Annotated[list[str] | None, NoDecode] = Field(
        None, description="Without auth: FHIR servers a request may name (comma-separated base URLs, or prefixes "
                          "ending in /); default any http(s). With auth jwt each issuer's fhir_servers decide")
    max_body_bytes: int = Field(5 * 1024 * 1024, description="Largest request body; larger: 413")
    header_timeout_s: float = Field(10.0, description="A request head must arrive within this (of connecting or "
                                                      "answering), else the connection is closed")
    body_timeout_s: float = Field(10.0, description="A request body must arrive within this; later: 408")
    body_reads: int = Field(32, ge=1, description="Request bodies read at once per worker; more: 503")
    workers: int = Field(1, ge=1, description="Worker processes of `cds serve`, each with its own rules (one per "
                                              "core)")
    evaluation_slots: int = Field(1, description="Rule evaluations at once per worker process (the GIL runs one)")
    cors_origins: Annotated[list[str] | None, NoDecode] = Field(
        None, description="Browser origins allowed to call (comma-separated); default the CDS Hooks Sandbox's with "
                          "auth off, none with auth on")
    trusted_proxies: list[str] = Field([], description="Proxy addresses or CIDRs whose X-Request-Start counts "
                                                       "toward the deadline (JSON list)")
    forwarded_allow_ips: str = Field("127.0.0.1", description="Proxy addresses or CIDRs (comma-separated, or *) "
                                                              "whose X-Forwarded-For/-Proto name the client")
    auth: Literal["none", "jwt"] = Field("none", description="jwt: service calls, feedback and analytics need a "
                                                             "CDS Hooks bearer JWT (off: the same as none)")
    issuers: Path | None = Field(None, description="Issuer allowlist file (YAML or JSON), for auth jwt")
    public_url: str | None = Field(None, description="This service's base URL as EHRs call it: a token's aud is "
                                                     "<it>/cds-services/<id>")
    patient_hash_key: SecretStr | None = Field(None, description="Key of the card log's patient-id HMAC, the same "
                                                                 "on every replica; default a key file in data_dir")
    card_log_retention_days: int = Field(400, ge=1, description="Card-log, recorded-evaluation and feedback rows "
                                                                "older than this are deleted")
    record_facts: bool = Field(False, description="Store each evaluation's facts with the card log, scrubbed (no ids, "
                                                  "names, free text or dates), for `cds rules diff --corpus recorded`")
    alarm_baseline_days: int = Field(28, ge=7, description="Firing alarms: live days of a rule's own history its "
                                                           "recent days are compared with")
    alarm_window_days: int = Field(14, ge=1, le=28, description="Firing alarms: the last 1 to this many days are each "
                                                               "compared with the baseline")
    alarm_p_value: float = Field(1e-5, gt=0, lt=0.5, description="Firing alarms: a count this unlikely under the "
                                                                 "baseline rate (either way) is flagged")
    alarm_min_baseline_cards: int = Field(28, ge=1, description="Firing alarms: a rule with fewer cards in its "
                                                                "baseline is not judged (too rare)")
    alarm_interval_s: float = Field(300.0, gt=0, description="Firing alarms: how often each worker looks for a new "
                                                             "day to judge (judged once a day and after each reload)")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or as JSON objects")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged")

    @field_validator("auth", mode="before")
    @classmethod
    def _off_is_none(cls, value: object) -> object:
        """`off` says it explicitly (the container image starts with jwt): the same as none."""
        return "none" if value == "off" else value

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


def shown_default(value: Any) -> str:
    """A default as the settings table and `--help` show it (no machine-specific paths)."""
    if value is None:
        return "none"
    if value == BUNDLED_RULES:
        return "the bundled rules/"
    if isinstance(value, Path) and value.is_relative_to(Path.home()):
        return f"~/{value.relative_to(Path.home())}"
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, list) else str(value)


def shown_value(settings: Settings, name: str) -> str:
    """A setting's value as `cds config` prints it: secrets and database passwords hidden."""
    value = getattr(settings, name)
    if name == "database_url":
        from sqlalchemy.engine import make_url

        return make_url(value).render_as_string(hide_password=True) if value else \
            f"none (SQLite in {settings.data_dir})"
    if isinstance(value, SecretStr):
        return "(set, hidden)"
    return json.dumps(value) if isinstance(value, list) else "none" if value is None else str(value)


def setting_source(name: str, flags: Mapping[str, Any]) -> str:
    """Where a setting's value came from: flag, env (CDS_*) or default."""
    if name in flags:
        return "flag"
    variable = f"CDS_{name.upper()}"
    return "env" if any(key.upper() == variable for key in os.environ) else "default"


def settings_table(flags: Mapping[str, str]) -> str:
    """Every setting as a Markdown table: variable, flag of `cds serve` (given by name), default, meaning."""
    lines = ["| Variable | Flag | Default | Meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        flag = f"`{flags[name]}`" if name in flags else ""
        lines.append(f"| `CDS_{name.upper()}` | {flag} | `{shown_default(field.default)}` | {field.description} |")
    return "\n".join(lines) + "\n"
