"""One typed configuration object, read once at start-up (prefix ``ONESTOP_``)."""

from __future__ import annotations

import base64
import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


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

    # Identity: the OIDC issuer whose access tokens the API accepts.
    oidc_issuer: str | None = None
    oidc_audience: str = "onestop"
    oidc_jwks_url: str | None = None
    public_url: str | None = None

    # Keys, base64url. In development they are derived under the data dir when missing.
    data_key: SecretStr | None = None
    codec_key: SecretStr | None = None
    signing_key: SecretStr | None = None

    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    catalogue_poll_seconds: float = Field(default=0.0, ge=0.0)

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

    @property
    def development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

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

    def key_bytes(self, name: str) -> bytes:
        """A 32-byte key by setting name; in development a missing key is created once under the data dir."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            raw = base64.urlsafe_b64decode(value.get_secret_value() + "=" * (-len(value.get_secret_value()) % 4))
            if len(raw) != 32:
                raise ValueError(f"ONESTOP_{name.upper()} must be 32 bytes, base64url-encoded")
            return raw
        if not self.development:
            raise ValueError(f"ONESTOP_{name.upper()} is required in production (32 random bytes, base64url)")
        path = self.data_dir / "keys" / f"{name}.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()
