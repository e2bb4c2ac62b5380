"""Fixtures for tests/engine: data-and-consent services built on a real SQLite file (and PostgreSQL when reachable)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres import POSTGRES_URL, database_url_for, postgres_admin, postgres_problem
from sqlalchemy import event, text

from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.gateway import DataServices
from onestop.engine.data.providers import ProviderSpec
from onestop.engine.db import Base, Database
from onestop.engine.db.sqlite import OneTripConnection

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


@pytest.fixture(scope="session")
async def postgres_schema() -> AsyncIterator[Database | None]:
    """One schema for the session's PostgreSQL tests (search_path pins every connection to it);
    None when no server is reachable."""
    admin = await postgres_admin()
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


@contextlib.asynccontextmanager
async def sqlite_database_in(directory: Path) -> AsyncIterator[Database]:
    """A fresh SQLite database with every table, in ``directory``; closed on leaving."""
    db = Database(f"sqlite+aiosqlite:///{directory}/onestop.db")
    await db.create_all()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """Only SQLite, for what is about SQLite itself."""
    async with sqlite_database_in(tmp_path) as db:
        yield db


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: os.PathLike[str],
                   postgres_schema: Database | None) -> AsyncIterator[Database]:
    """A fresh, empty database with every table: a SQLite file, or the PostgreSQL schema truncated."""
    if request.param == "sqlite":
        async with sqlite_database_in(Path(tmp_path)) as db:
            yield db
        return
    if postgres_schema is None:
        pytest.skip(postgres_problem[0])
    await postgres_schema.create_all()  # tables other test modules registered on Base since the session began
    async with postgres_schema.engine.begin() as conn:
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> AsyncIterator[str]:
    """An empty database's URL, for code that opens its own (the CLI, engines): a SQLite file, or a fresh
    PostgreSQL database."""
    async with database_url_for(request.param, Path(tmp_path) / "onestop.db") as url:
        yield url


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


DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the seed definitions tree that a test may edit. Temporary files (a reload child's catalogue
    file) go under ``tmp_path / "tmp"`` for the test's time, so a test can see they are removed."""
    root = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, root)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return root


@pytest.fixture
def statements() -> Iterator[Callable[[Database], list[str]]]:
    """``statements(db)``: a list that fills with the first three words of each statement ``db`` runs from then on
    (upper-cased, as ``INSERT INTO consents``), until the test ends."""
    listening: list[tuple[Any, Callable[..., None]]] = []

    def record(db: Database) -> list[str]:
        seen: list[str] = []

        def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(" ".join(statement.split()[:3]).upper())

        event.listen(db.engine.sync_engine, "before_cursor_execute", executed)
        listening.append((db.engine.sync_engine, executed))
        return seen

    yield record
    for engine, listener in listening:
        event.remove(engine, "before_cursor_execute", listener)


@pytest.fixture
def crossings(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Each crossing to a connection's thread, by the function run there."""
    counted: Counter[str] = Counter()
    crossing = OneTripConnection._execute

    async def counting(self: OneTripConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[fn.__name__] += 1
        return await crossing(self, fn, *args, **kwargs)

    monkeypatch.setattr(OneTripConnection, "_execute", counting)
    return counted
