"""Persistence: the declarative base, the async engine and its sessions, and Alembic migrations.

Portable across SQLite (aiosqlite, the embedded default) and PostgreSQL (asyncpg). Every table lives in
``tables.py``; importing ``onestop.engine.db`` registers them all on ``Base.metadata``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    TypeDecorator,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from onestop.config import Settings
from onestop.engine.db import sqlite
from onestop.engine.errors import SchemaNotCurrent, SchemaUnversioned

# Named constraints so Alembic migrations are deterministic on every backend.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_SQLITE_POOL = 20
"""Connections a SQLite file database keeps open: the concurrency of one embedded process under load."""

_DRAIN_SECONDS = 5.0
"""How long closing waits for connections still in use to come back to the pool."""

log = logging.getLogger(__name__)

# Any fixed 64-bit number, the same in every onestop process: the PostgreSQL advisory lock key of migrations.
_MIGRATION_LOCK = 0x6F6E6573_746F7001


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


class Database:
    """The async engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False, **engine_options: Any) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            # Writers wait for each other instead of failing with "database is locked".
            kwargs["connect_args"] = {"timeout": 30}
            if ":memory:" not in url and not url.endswith("://"):
                # Each connection is a thread, a file open and the pragmas; with SQLAlchemy's default of 5, every
                # request past the fifth closed its connection after use and the next opened one again.
                kwargs["pool_size"] = _SQLITE_POOL
        else:
            kwargs["pool_pre_ping"] = True
        kwargs.update(engine_options)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sqlite.install(self.engine)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        url = settings.resolved_database_url
        if url.startswith("sqlite+aiosqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite+aiosqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if url.startswith("sqlite"):
            # SQLite has no server connections to budget; SQLAlchemy picks its own pool for files.
            return cls(url)
        return cls(url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                   pool_timeout=settings.db_pool_timeout)

    async def create_all(self) -> None:
        """Create missing tables from the models (tests only; every process uses ``migrate``)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations in ``onestop/engine/db/migrations``.

        Safe when several processes start together: on PostgreSQL they queue on an advisory lock held until
        the migration commits, so the first migrates and the others then find the schema already there.
        """
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            await conn.run_sync(_upgrade, revision)

    @property
    def shared(self) -> bool:
        """Whether other processes may share this database (PostgreSQL), so shared state must live in it."""
        return self.engine.dialect.name == "postgresql"

    async def check_schema(self) -> None:
        """Raise ``SchemaNotCurrent`` unless the database is at the migrations' head."""
        async with self.engine.connect() as conn:
            current = await conn.run_sync(_current_heads)
        head = _script_heads()
        if set(current) != set(head):
            raise SchemaNotCurrent(current, head)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def close(self, *, drain_seconds: float = _DRAIN_SECONDS) -> None:
        """Close every connection. Connections still checked out (a task finishing its clean-up after being
        cancelled) get ``drain_seconds`` to come back first: ``dispose`` closes only those in the pool, and one
        returned later would go into a pool nobody closes any more."""
        checked_out = getattr(self.engine.pool, "checkedout", None)
        if checked_out is not None:
            deadline = time.monotonic() + drain_seconds
            while checked_out() and time.monotonic() < deadline:  # noqa: ASYNC110 - a pool has no awaitable check-in
                await asyncio.sleep(0.01)
            if checked_out():
                log.warning("closing the database with %d connections still in use", checked_out())
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a power cut may lose the last commits but never
    # corrupts the file, and every write here is one Temporal retries or the caller repeats idempotently.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(connection: Any = None) -> Any:
    """An Alembic ``Config`` for the packaged migrations (``alembic revision`` uses it via ``-c``-less API)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "onestop.engine.db:migrations")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Any, revision: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    if not _current_heads(connection) and set(inspect(connection).get_table_names()) & set(Base.metadata.tables):
        # Migrating would fail half-way on "table already exists"; say what happened instead.
        raise SchemaUnversioned
    command.upgrade(alembic_config(connection), revision)


def _current_heads(connection: Any) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def _script_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))
