"""The test PostgreSQL server: started on this machine when we may, one schema or one database per use.

PostgreSQL tests run when a server is reachable: ONESTOP_TEST_POSTGRES_URL names a database the role may create
schemas in (and, for tests of separate processes, databases). Locally, as root, the machine's PostgreSQL 15 and
its role are set up here: pg_ctlcluster 15 main start; CREATE ROLE onestop LOGIN CREATEDB PASSWORD 'onestop';
CREATE DATABASE onestop OWNER onestop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

POSTGRES_URL = os.environ.get("ONESTOP_TEST_POSTGRES_URL",
                              "postgresql+asyncpg://onestop:onestop@127.0.0.1:5432/onestop")
postgres_problem: list[str] = []


def _start_local_postgres() -> None:
    """Start the machine's PostgreSQL 15 and its test role when we may (root, default URL): CI runs these too."""
    if "ONESTOP_TEST_POSTGRES_URL" in os.environ or os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
        return
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603

    run("pg_ctlcluster", "15", "main", "start")  # fails harmlessly when already running
    psql = ("runuser", "-u", "postgres", "--", "psql", "-qtA", "-c")  # no shell: $$ must reach psql intact
    run(*psql, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'onestop') THEN "
               "CREATE ROLE onestop LOGIN PASSWORD 'onestop'; END IF; END $$;")
    # Separate onestop processes cannot be pinned to a schema through the URL, so they get a database each.
    run(*psql, "ALTER ROLE onestop CREATEDB")
    # DROP DATABASE … WITH (FORCE) ends the other sessions on a test's database, an autovacuum worker's too.
    run(*psql, "GRANT pg_signal_backend TO onestop")
    if run(*psql, "SELECT 1 FROM pg_database WHERE datname = 'onestop'").stdout.strip() != "1":
        run(*psql, "CREATE DATABASE onestop OWNER onestop")


async def postgres_admin() -> AsyncEngine | None:
    """An autocommit engine on the test server; None (with the reason in ``postgres_problem``) when unreachable."""
    _start_local_postgres()
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        postgres_problem.append(
            f"PostgreSQL not reachable at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} "
            f"({type(exc).__name__}); set ONESTOP_TEST_POSTGRES_URL or start a server to run these"
        )
        return None
    return engine


@asynccontextmanager
async def fresh_database(admin: AsyncEngine) -> AsyncIterator[str]:
    """A new, empty database for processes started by a test; its URL (with password), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _drop(admin, name)


async def _drop(admin: AsyncEngine, name: str) -> None:
    # A role without pg_signal_backend (a server named by ONESTOP_TEST_POSTGRES_URL) may not end an autovacuum
    # worker that has just started on the new database: it is done within moments, so the drop is tried again.
    for attempt in range(20):
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except SQLAlchemyError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.25)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database on the test server, dropped afterwards; its URL. Skips the test (with the
    reason) when no server is reachable."""
    admin = await postgres_admin()
    if admin is None:
        pytest.skip(postgres_problem[0])
    try:
        async with fresh_database(admin) as url:
            yield url
    finally:
        await admin.dispose()


@asynccontextmanager
async def database_url_for(kind: str, sqlite_file: Path) -> AsyncIterator[str]:
    """A database URL of ``kind`` (``sqlite``: the file ``sqlite_file``; ``postgresql``: a fresh database)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    async with postgres_database() as url:
        yield url
