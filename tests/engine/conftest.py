"""Fixtures for tests/engine: data-and-consent services built on a real SQLite file (and PostgreSQL when reachable)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.gateway import DataServices
from onestop.engine.data.providers import ProviderSpec
from onestop.engine.db import Base, Database

DATA_KEY = bytes(range(32))
SIGNING_SEED = bytes(range(32, 64))

PROFILE_ITEMS = ("nameEn", "nameZh", "dateOfBirth", "hkid", "gender", "phone", "email",
                 "residentialAddress", "correspondenceAddress")


def provider_specs(**extra: ProviderSpec) -> dict[str, ProviderSpec]:
    specs = {
        "eme": ProviderSpec("eme", "DPO", "sql", PROFILE_ITEMS),
        "td-licensing": ProviderSpec("td-licensing", "TD", "sql",
                                     ("driving-licence", "vehicle-registrations", "driving-offence-points")),
    }
    specs.update(extra)
    return specs


# PostgreSQL runs when reachable: ONESTOP_TEST_POSTGRES_URL names a database the role may create schemas in.
# Locally: pg_ctlcluster 15 main start; CREATE ROLE onestop LOGIN PASSWORD 'onestop';
# CREATE DATABASE onestop OWNER onestop.
POSTGRES_URL = os.environ.get("ONESTOP_TEST_POSTGRES_URL",
                              "postgresql+asyncpg://onestop:onestop@127.0.0.1:5432/onestop")
_postgres_problem: list[str] = []


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
    if run(*psql, "SELECT 1 FROM pg_database WHERE datname = 'onestop'").stdout.strip() != "1":
        run(*psql, "CREATE DATABASE onestop OWNER onestop")


async def _postgres_admin() -> AsyncEngine | None:
    _start_local_postgres()
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        _postgres_problem.append(
            f"PostgreSQL not reachable at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} "
            f"({type(exc).__name__}); set ONESTOP_TEST_POSTGRES_URL or start a server to run these"
        )
        return None
    return engine


@pytest.fixture(scope="session")
async def postgres_schema() -> AsyncIterator[Database | None]:
    """One schema for the session's PostgreSQL tests (search_path pins every connection to it);
    None when no server is reachable."""
    admin = await _postgres_admin()
    if admin is None:
        yield None
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        await db.create_all()
        yield db
    finally:
        await db.close()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: os.PathLike[str],
                   postgres_schema: Database | None) -> AsyncIterator[Database]:
    """A fresh, empty database with every table: a SQLite file, or the PostgreSQL schema truncated."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/onestop.db")
        await db.create_all()
        yield db
        await db.close()
        return
    if postgres_schema is None:
        pytest.skip(_postgres_problem[0])
    await postgres_schema.create_all()  # tables other test modules registered on Base since the session began
    async with postgres_schema.engine.begin() as conn:
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield postgres_schema


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KeyRing.single(DATA_KEY))


@pytest.fixture
def signer() -> Signer:
    return Signer(SIGNING_SEED)


@pytest.fixture
def data_services(database: Database, cipher: FieldCipher, signer: Signer) -> DataServices:
    return DataServices.assemble(database, cipher, signer, provider_specs())


@pytest.fixture
def services_with(database: Database, cipher: FieldCipher,
                  signer: Signer) -> Callable[..., DataServices]:
    """Services whose catalogue has extra providers (``services_with(**{"td-http": spec})``)."""

    def build(**extra: ProviderSpec) -> DataServices:
        return DataServices.assemble(database, cipher, signer, provider_specs(**extra))

    return build
