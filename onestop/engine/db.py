"""Persistence: the async engine, sessions and the tables of citizens' data, consents and the access log.

Portable across SQLite (aiosqlite, the embedded default) and PostgreSQL (asyncpg). Personal values are
stored only as ciphertext (see ``crypto.py``); the tables here hold the ciphertext as TEXT. Other owners
add their tables by subclassing ``Base`` and importing their module before ``create_all``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from onestop.config import Settings

# Named constraints so Alembic migrations are deterministic on every backend.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values; we restore UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every onestop table."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class CitizenRow(Base):
    """A citizen known to the platform. ``sub`` is the pairwise subject from the identity provider;
    ``ref`` is the pseudonymous reference used outside the database (Temporal search attributes, logs)."""

    __tablename__ = "citizens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sub: Mapped[str] = mapped_column(String(255), unique=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class ProfileRow(Base):
    """The e-ME profile; every personal column holds ciphertext bound to (column, citizen)."""

    __tablename__ = "profiles"

    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True)
    name_en: Mapped[str | None] = mapped_column(Text)
    name_zh: Mapped[str | None] = mapped_column(Text)
    date_of_birth: Mapped[str | None] = mapped_column(Text)
    hkid: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    residential_address: Mapped[str | None] = mapped_column(Text)
    correspondence_address: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ProviderRecordRow(Base):
    """One value a department holds about a citizen (the SQL-backed provider registry)."""

    __tablename__ = "provider_records"
    __table_args__ = (UniqueConstraint("citizen_id", "provider_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)  # ciphertext of the JSON value
    updated_at: Mapped[datetime]


class ConsentRow(Base):
    """A consent artefact; ``jws`` is the platform's signature over its canonical form."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_citizen_granted", "citizen_id", "granted_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    service_slug: Mapped[str] = mapped_column(String(200))
    service_hash: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(20))
    providers: Mapped[list[Any]]
    items: Mapped[list[Any]]
    purpose: Mapped[dict[str, Any]]
    lawful_basis: Mapped[str] = mapped_column(String(50))
    mode: Mapped[str] = mapped_column(String(20))
    acr: Mapped[str] = mapped_column(String(200))
    application_id: Mapped[str | None] = mapped_column(String(200), index=True)
    step_id: Mapped[str | None] = mapped_column(String(100))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    jws: Mapped[str] = mapped_column(Text)
    receipt_jws: Mapped[str | None] = mapped_column(Text)


class AccessLogRow(Base):
    """One entry of a citizen's hash-chained access log (``seq`` counts from 1 per citizen)."""

    __tablename__ = "access_log"
    __table_args__ = (UniqueConstraint("citizen_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    service_slug: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[Any]]
    consent_id: Mapped[str | None] = mapped_column(String(36))
    application_id: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(50))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Database:
    """The async engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False, **engine_options: Any) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            # Writers wait for each other instead of failing with "database is locked".
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        kwargs.update(engine_options)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        url = settings.resolved_database_url
        if url.startswith("sqlite+aiosqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite+aiosqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return cls(url)

    async def create_all(self) -> None:
        """Create missing tables (the embedded default; production uses Alembic migrations)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations in ``onestop/engine/migrations``."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config(connection: Any = None) -> Any:
    """An Alembic ``Config`` for the packaged migrations (``alembic revision`` uses it via ``-c``-less API)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "onestop.engine:migrations")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Any, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)
