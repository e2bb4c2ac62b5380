"""One typed configuration object, read once at start-up (prefix ``ONESTOP_``)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class EventLoop(StrEnum):
    """The asyncio event loop the long-running commands run on (``ONESTOP_EVENT_LOOP``)."""

    AUTO = "auto"  # uvloop where it is installed (a runtime dependency except on Windows), else asyncio's own
    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


# Any port on the loopback names: a frontend dev server (Vite, Next.js ...) on the developer's machine.
DEV_CORS_ORIGIN_REGEX = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"
_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


def _decode_key(setting: str, text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{setting} must be 32 bytes, base64url-encoded")
    return raw


def _default_definitions() -> Path:
    # A checkout keeps definitions/ beside the package; an installed wheel is pointed elsewhere by config.
    return Path(__file__).resolve().parent.parent / "definitions"


class Settings(BaseSettings):
    """Every setting of the system. Secrets are ``SecretStr`` and never logged."""

    model_config = SettingsConfigDict(env_prefix="ONESTOP_", extra="ignore", frozen=True)

    env: Environment = Environment.PRODUCTION
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".onestop")
    definitions: Path = Field(default_factory=_default_definitions)
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "onestop-applications"
    temporal_ui_port: int = Field(default=8233, ge=0, le=65535)
    # serve, api, worker, web and acting-terms run on uvloop when it is installed (less CPU per request and per
    # workflow activation); "asyncio" turns it off, "uvloop" refuses to start without it.
    event_loop: EventLoop = EventLoop.AUTO
    # How long delivery to a department retries (exponential backoff up to 10 minutes apart) before the
    # application is DELIVERY_FAILED and waits for an operator's redelivery. Fixed per application at its start.
    delivery_retry_hours: float = Field(default=24.0, gt=0)
    # Fees: an acquirer's REST API for hosted payment pages (unset: the simulator at /dev-pay/ in development, no
    # payments in production), its API key and webhook signing secret, and how long a payment page may stay open.
    payment_provider_url: str | None = None
    payment_api_key: SecretStr | None = None
    payment_webhook_secret: SecretStr | None = None
    payment_timeout_seconds: float = Field(default=900.0, gt=0)

    # Identity: the OIDC issuer whose access tokens the API accepts.
    oidc_issuer: str | None = None
    oidc_audience: str = "onestop"
    oidc_jwks_url: str | None = None
    public_url: str | None = None
    # ``onestop web`` only: the API the web app calls (``serve`` embeds the API and calls it in process).
    api_url: str | None = None

    # Keys, base64url. In development they are derived under the data dir when missing.
    data_key: SecretStr | None = None
    codec_key: SecretStr | None = None
    signing_key: SecretStr | None = None
    # Encrypts the web app's server-side sessions (which hold the citizens' access tokens).
    session_key: SecretStr | None = None
    # Rotation: the keys replaced, comma-separated. They only read (decrypt, verify) what they wrote before;
    # everything new uses the current key.
    data_key_previous: SecretStr | None = None
    codec_key_previous: SecretStr | None = None
    signing_key_previous: SecretStr | None = None

    # Documents (file fields): "local" seals files under the data dir; "s3" in an S3-compatible bucket (sealed too).
    documents_store: Literal["local", "s3"] = "local"
    documents_s3_bucket: str | None = None
    documents_s3_prefix: str = "documents/"
    documents_s3_endpoint: str | None = None
    documents_s3_region: str | None = None
    documents_s3_access_key: str | None = None
    documents_s3_secret_key: SecretStr | None = None
    # The ClamAV daemon that scans every upload: unix:/run/clamav/clamd.ctl or tcp://host:3310. Unset: documents
    # are stored NOT_SCANNED, and staff see that.
    clamd_address: str | None = None

    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Arrays and objects in a request body; the deepest real answer (a group of addresses) is under ten.
    max_json_depth: int = Field(default=32, ge=8, le=200)
    catalogue_poll_seconds: float = Field(default=0.0, ge=0.0)
    # A reload of a large tree (300 files or more) parses and validates in a child process and the server reads the
    # result back between requests; false: every reload runs on the server's event loop, in small steps.
    catalogue_reload_in_child: bool = True
    # How often each process reads the catalogue version announced in the database (one primary-key read), so a
    # reload on one replica reaches every API and worker within this long; 0: never follow others' reloads.
    catalogue_watch_seconds: float = Field(default=2.0, ge=0.0)

    # Browser frontends on other origins (``https://app.example.gov.hk``); empty sends no CORS headers
    # (in development, any localhost port is allowed then). Comma-separated or a JSON list.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Per caller (token subject, else client IP), per process. 0 turns a limit off.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int | None = Field(default=None, ge=1)  # None: a whole minute's allowance at once
    token_rate_limit_per_minute: int = Field(default=300, ge=0)  # POST /dev-idp/token, by client IP
    # Anonymous `startApplication` calls (login: none services), per client IP and per service, an hour.
    anonymous_starts_per_hour_per_ip: int = Field(default=30, ge=0)
    anonymous_starts_per_hour_per_service: int = Field(default=3_000, ge=0)
    # How long an anonymous draft nobody has answered is kept (no workflow runs for it until the first answer).
    anonymous_draft_ttl_seconds: float = Field(default=7 * 24 * 3600, gt=0)
    # Top-level mutation fields one request may carry; each counts against the caller's rate limit.
    max_mutations_per_request: int = Field(default=5, ge=1)
    # The sandbox programme, per provider's sandbox: the largest upload (a YAML file or a zip; also bounded by
    # max_body_bytes, as base64), the services its catalogue may hold, the applications its test citizens may start
    # in 24 hours.
    sandbox_max_upload_bytes: int = Field(default=128 * 1024, ge=1024)
    sandbox_max_services: int = Field(default=20, ge=1)
    sandbox_applications_per_day: int = Field(default=200, ge=0)
    # How often a worker looks in the database for sandboxes another process provisioned, to poll their task
    # queues (a process polls the ones it provisions at once); 0 looks only at start.
    sandbox_worker_poll_seconds: float = Field(default=10.0, ge=0)
    # Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); nobody else's is.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for proxy in value:
                try:
                    ipaddress.ip_network(str(proxy), strict=False)
                except ValueError:
                    raise ValueError(f"ONESTOP_TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR range "
                                     "(e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return value

    # Operations. Logs: json (the default in production) or text (the default in development).
    log_format: LogFormat | None = None
    # A worker's own /metrics listener (the API serves /metrics on its port); None: no listener.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # host:port where the Temporal SDK's Prometheus exporter listens (its own metrics); None: not exported.
    temporal_metrics_bind: str | None = None
    # OTLP/HTTP collector base URL (http://collector:4318); None: no tracing at all.
    otlp_endpoint: str | None = None

    # Running many processes on one PostgreSQL: each holds up to db_pool_size + db_max_overflow connections,
    # and all of them together must stay under the server's max_connections (not used for SQLite).
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0)  # seconds a request waits for a free connection

    # Notices. Email goes through this SMTP relay; none set: in development a local sink (shown at /dev-mail/),
    # in production no email is sent. SMS needs a provider (development: the same sink).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # starttls (port 587), tls (implicit, port 465) or none (a relay on a trusted network only).
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    mail_from: str = "GovHK onestop <no-reply@onestop.gov.hk>"

    # Security events are deleted after this many days (by a Temporal Schedule the worker registers).
    security_event_retention_days: int = Field(default=90, ge=1)
    # How often the anomaly detector's Temporal Schedule runs.
    anomaly_interval_seconds: int = Field(default=60, ge=5, le=3600)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("ONESTOP_CORS_ORIGINS is not a valid JSON list; "
                                 'write ["https://a.example", "https://b.example"] or a,b') from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            # Browsers send Origin as scheme://host[:port]; anything more would silently never match.
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"ONESTOP_CORS_ORIGINS: {origin!r} is not an origin; write scheme://host[:port] "
                                 "with no path or trailing slash, e.g. https://app.example.gov.hk")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "sqlite://", "postgresql://")):
            raise ValueError(
                "ONESTOP_DATABASE_URL must be sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("temporal_metrics_bind")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$", value):
            raise ValueError("ONESTOP_TEMPORAL_METRICS_BIND must be host:port, e.g. 0.0.0.0:9464")
        return value

    @property
    def development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @property
    def resolved_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return LogFormat.TEXT if self.development else LogFormat.JSON

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'onestop.db').resolve()}"
        # Accept the plain driver names operators usually write and use the async drivers.
        if url.startswith("sqlite://"):
            url = "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
        elif url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        return url

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def cors_origin_regex(self) -> str | None:
        """Origins allowed by pattern: any localhost port in development when no origins are configured."""
        return DEV_CORS_ORIGIN_REGEX if self.development and not self.cors_origins else None

    def key_bytes(self, name: str) -> bytes:
        """A 32-byte key by setting name; in development a missing key is created once under the data dir."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return _decode_key(f"ONESTOP_{name.upper()}", value.get_secret_value())
        if not self.development:
            raise ValueError(f"ONESTOP_{name.upper()} is required in production (32 random bytes, base64url)")
        path = self.data_dir / "keys" / f"{name}.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    def previous_key_bytes(self, name: str) -> tuple[bytes, ...]:
        """The rotated-out keys of ``name`` (from ``<name>_previous``), newest first as configured."""
        value: SecretStr | None = getattr(self, f"{name}_previous")
        if value is None:
            return ()
        setting = f"ONESTOP_{name.upper()}_PREVIOUS"
        parts = [part.strip() for part in value.get_secret_value().split(",")]
        return tuple(_decode_key(f"{setting} (entry {n})", part) for n, part in enumerate(parts, 1) if part)
