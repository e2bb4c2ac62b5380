from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
import weakref
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Integer, String, event, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Mapped, mapped_column

from onestop.config import Settings
from onestop.engine.applications.activities import heartbeating
from onestop.engine.data.gateway import DataServices
from onestop.engine.db import AccessLogRow, Base, CitizenRow, Database
from onestop.engine.errors import SchemaNotCurrent, SchemaUnversioned


async def test_create_all_makes_every_table(database: Database) -> None:
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert {"citizens", "profiles", "provider_records", "consents", "access_log"} <= set(tables)


async def test_create_all_is_idempotent(database: Database) -> None:
    await database.create_all()


async def test_other_owners_can_add_tables_to_base(tmp_path: Path) -> None:
    class Extra(Base):
        __tablename__ = "test_extra_table"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        note: Mapped[str] = mapped_column(String(10))

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        await db.create_all()
        async with db.session() as session:
            session.add(Extra(id=1, note="ok"))
        async with db.session() as session:
            assert (await session.scalar(select(Extra.note))) == "ok"
    finally:
        Base.metadata.remove(Extra.__table__)  # type: ignore[arg-type]
        await db.close()


async def test_datetimes_come_back_aware_utc(data_services: DataServices, database: Database) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    at = datetime(2026, 11, 27, 20, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    await data_services.access_log.append(citizen.id, service_slug="s", department="TD", provider_id="p",
                                          items=["p.i"], consent_id=None, application_id=None,
                                          outcome="allowed", at=at)
    async with database.session() as session:
        stored = await session.scalar(select(AccessLogRow.at))
    assert stored == at
    assert stored is not None
    assert stored.tzinfo is UTC


async def test_naive_datetime_is_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.session() as session:
            session.add(CitizenRow(id="c", sub="s", ref="r", created_at=datetime(2026, 1, 1)))


async def test_database_from_settings_creates_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path / "nested" / "data")
    db = Database.from_settings(settings)
    try:
        await db.create_all()
        assert (tmp_path / "nested" / "data" / "onestop.db").exists()
    finally:
        await db.close()


async def test_concurrent_first_logins_create_one_citizen(data_services: DataServices,
                                                          database: Database) -> None:
    results = await asyncio.gather(*(data_services.citizens.ensure("sub-same") for _ in range(5)))
    assert len({c.id for c in results}) == 1
    async with database.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM citizens"))).scalar() == 1


async def test_citizen_reference_is_a_pseudonym_not_the_sub(data_services: DataServices) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    assert citizen.ref != citizen.sub
    assert citizen.ref != citizen.id
    assert len(citizen.ref) == 32
    assert await data_services.citizens.by_ref(citizen.ref) == citizen


def _model_tables() -> set[str]:
    # Every table an onestop module maps; tables that tests add to Base for a moment are not the schema.
    import onestop.engine.applications.delivery  # noqa: F401  (the application tables)

    return {m.persist_selectable.description or "" for m in Base.registry.mappers
            if m.class_.__module__.startswith("onestop.")}


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in _model_tables()


def _schema_drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": _ours})
    return list(compare_metadata(context, Base.metadata))


def _head() -> str:
    from alembic.script import ScriptDirectory

    from onestop.engine.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_model_tables_include_the_application_tables() -> None:
    assert {"citizens", "profiles", "provider_records", "consents", "access_log", "department_inbox",
            "application_references", "applications"} <= _model_tables()


async def test_migrations_build_the_same_schema_as_the_models_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/migrated.db")
    try:
        await db.migrate()
        await db.migrate()  # already at head: nothing to do
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == _head()
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert _model_tables() <= tables
    finally:
        await db.close()


async def test_migrations_build_the_same_schema_as_the_models_on_postgresql(
        postgres_schema: Database | None) -> None:
    if postgres_schema is None:
        pytest.skip("PostgreSQL not reachable (see tests/engine/conftest.py)")
    schema = f"m_{uuid.uuid4().hex[:12]}"
    async with postgres_schema.engine.connect() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.commit()
    db = Database(postgres_schema.url, connect_args={"server_settings": {"search_path": schema}})
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
    finally:
        await db.close()
        async with postgres_schema.engine.connect() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.commit()


def test_onestop_migrate_creates_every_table(tmp_path: Path) -> None:
    import sqlite3

    from click.testing import CliRunner

    from onestop.cli import main

    db_file = tmp_path / "cli.db"
    result = CliRunner().invoke(main, ["migrate", "--database-url", f"sqlite+aiosqlite:///{db_file}",
                                       "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db_file) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert _model_tables() <= tables
    assert version == _head()


def test_pool_settings_reach_the_postgresql_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_DB_POOL_SIZE", "3")
    monkeypatch.setenv("ONESTOP_DB_MAX_OVERFLOW", "1")
    monkeypatch.setenv("ONESTOP_DB_POOL_TIMEOUT", "2.5")
    db = Database.from_settings(Settings(database_url="postgresql://u@127.0.0.1/x"))
    pool: Any = db.engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 2.5)


async def test_a_process_waits_at_most_the_pool_timeout_for_a_connection(postgres_schema: Database | None) -> None:
    if postgres_schema is None:
        pytest.skip("PostgreSQL not reachable (see tests/engine/conftest.py)")
    db = Database.from_settings(Settings(database_url=postgres_schema.url, db_pool_size=1, db_max_overflow=0,
                                         db_pool_timeout=0.3))
    try:
        async with db.engine.connect():
            with pytest.raises(sqlalchemy.exc.TimeoutError):
                async with asyncio.timeout(5), db.engine.connect():
                    pass
    finally:
        await db.close()


async def test_the_schema_check_refuses_an_empty_or_old_database_and_names_onestop_migrate(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    try:
        with pytest.raises(SchemaNotCurrent, match=r"empty .*run `onestop migrate`"):
            await db.check_schema()
        await db.migrate("0001")
        with pytest.raises(SchemaNotCurrent, match=r"at revision 0001 .*run `onestop migrate`"):
            await db.check_schema()
        await db.migrate()
        await db.check_schema()
    finally:
        await db.close()


async def test_replicas_migrating_together_on_postgresql_all_start(postgres_schema: Database | None) -> None:
    if postgres_schema is None:
        pytest.skip("PostgreSQL not reachable (see tests/engine/conftest.py)")
    schema = f"r_{uuid.uuid4().hex[:12]}"
    async with postgres_schema.engine.connect() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.commit()
    replicas = [Database(postgres_schema.url, connect_args={"server_settings": {"search_path": schema}})
                for _ in range(4)]
    try:
        await asyncio.gather(*(db.migrate() for db in replicas))
        for db in replicas:
            await db.check_schema()
        async with replicas[0].engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar() == 1
    finally:
        for db in replicas:
            await db.close()
        async with postgres_schema.engine.connect() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.commit()


async def test_migrating_tables_made_without_migrations_says_what_to_do(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await db.create_all()
        with pytest.raises(SchemaUnversioned, match="no migration history"):
            await db.migrate()
    finally:
        await db.close()


class Unclosed:
    """The driver connections a SQLite ``Database`` opens, and which of them were garbage-collected unclosed
    (aiosqlite warns when it finalises a connection nobody closed; pytest's ``error`` filter fails the test that
    happens to be running then, however unrelated)."""

    def __init__(self, database: Database) -> None:
        self.opened: list[weakref.ref[Any]] = []
        self.names: set[str] = set()
        event.listen(database.engine.sync_engine, "connect", self._opened)

    def _opened(self, dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        self.opened.append(weakref.ref(driver))
        self.names.add(repr(driver))

    def collected(self) -> list[str]:
        """Collect garbage; the warnings about this database's connections it finalised unclosed."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            gc.collect()
        assert self.opened
        assert all(ref() is None for ref in self.opened), "every connection is gone"
        return [str(w.message) for w in caught if any(name in str(w.message) for name in self.names)]


async def holding_a_connection(db: Database, in_use: asyncio.Event) -> None:
    """Database work that is in a transaction when it is cancelled."""
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        in_use.set()
        await asyncio.sleep(60)


async def test_closing_waits_for_the_connection_a_cancelled_task_is_still_giving_back(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/closing.db")
    unclosed = Unclosed(db)
    in_use = asyncio.Event()
    task = asyncio.create_task(holding_a_connection(db, in_use))
    await in_use.wait()
    task.cancel()  # and not awaited: its rollback and check-in are still to run when the database closes
    await db.close()
    await asyncio.gather(task, return_exceptions=True)
    assert unclosed.collected() == []


async def test_a_cancelled_heartbeating_activity_gives_its_connection_back_before_it_ends(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/activity.db")
    unclosed = Unclosed(db)
    in_use = asyncio.Event()
    activity = asyncio.create_task(heartbeating(holding_a_connection(db, in_use)))
    await in_use.wait()
    activity.cancel()  # a worker shutting down cancels its running activities, then the engine closes
    await asyncio.gather(activity, return_exceptions=True)
    await db.close(drain_seconds=0)  # no grace: the activity itself must have given the connection back
    assert unclosed.collected() == []
