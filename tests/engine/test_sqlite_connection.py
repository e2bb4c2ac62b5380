"""SQLite connections that cross to their thread once per statement, their writers taking turns
(``engine/db/sqlite.py``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from onestop.engine.db import CitizenRow, Database
from onestop.engine.db.prepared import commits_with_next, write_alone
from onestop.engine.db.sqlite import OneTripConnection, may_write


def _citizen(n: int) -> CitizenRow:
    return CitizenRow(id=f"c-{n}", sub=f"sub-{n}", ref=f"ref-{n}", created_at=datetime.now(UTC))


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CitizenRow)) or 0)


async def test_every_connection_of_a_sqlite_database_is_one_trip(sqlite_database: Database) -> None:
    async with sqlite_database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, OneTripConnection)


async def test_a_statement_is_one_crossing_and_a_read_ends_without_one(sqlite_database: Database,
                                                                      crossings: Counter[str]) -> None:
    await _count(sqlite_database)  # the pool's first connection (its pragmas) before counting
    crossings.clear()
    assert await _count(sqlite_database) == 0
    assert crossings == Counter({"_run": 1})  # no commit, and no rollback as the connection goes back
    async with sqlite_database.session() as session:
        session.add(_citizen(1))
    assert crossings == Counter({"_run": 2, "_end": 1})  # the insert and its commit
    assert await _count(sqlite_database) == 1


async def test_a_failed_transaction_is_rolled_back_and_the_connection_serves_the_next(
        sqlite_database: Database) -> None:
    async with sqlite_database.session() as session:
        session.add(_citizen(1))

    async def write(*rows: CitizenRow, fail: bool = False) -> None:
        async with sqlite_database.session() as session:
            for row in rows:
                session.add(row)
                await session.flush()
            if fail:
                raise RuntimeError("the caller fails after its writes")

    with pytest.raises(IntegrityError):
        await write(_citizen(2), _citizen(1))  # the same id again: refused, and the whole transaction with it
    assert await _count(sqlite_database) == 1
    with pytest.raises(RuntimeError):
        await write(_citizen(3), fail=True)
    assert await _count(sqlite_database) == 1
    async with sqlite_database.session() as session:
        session.add(_citizen(4))
    assert await _count(sqlite_database) == 2


async def test_rows_and_results_come_back_as_sqlite_gives_them(sqlite_database: Database) -> None:
    async with sqlite_database.session() as session:
        session.add_all([_citizen(n) for n in range(5)])
    async with sqlite_database.session() as session:
        refs = (await session.scalars(select(CitizenRow.ref).order_by(CitizenRow.ref))).all()
        assert refs == [f"ref-{n}" for n in range(5)]
        changed = await session.execute(text("UPDATE citizens SET ref = ref || '!' WHERE sub != 'sub-0'"))
        assert changed.rowcount == 4  # type: ignore[attr-defined]
        assert (await session.execute(text("SELECT 1 WHERE 0"))).first() is None
    async with sqlite_database.session() as session:
        assert await session.scalar(select(CitizenRow.ref).where(CitizenRow.sub == "sub-3")) == "ref-3!"


# ---- writers take turns (WriteTurns) ----


async def _hold_write(db: Database, n: int, held: asyncio.Event, release: asyncio.Event) -> float:
    """Open a write transaction, tell ``held``, keep it until ``release``; the monotonic time it committed."""
    async with db.engine.begin() as connection:
        await connection.execute(text("INSERT INTO citizens (id, sub, ref, created_at) "
                                      "VALUES (:id, :sub, :ref, CURRENT_TIMESTAMP)"),
                                 {"id": f"c-{n}", "sub": f"sub-{n}", "ref": f"ref-{n}"})
        held.set()
        await release.wait()
    return time.monotonic()


async def test_a_writer_waiting_for_another_goes_on_as_soon_as_its_transaction_ends(
        sqlite_database: Database) -> None:
    # SQLite's busy handler would have looked again only at its next sleep's end (after 328 ms of waiting, every
    # 100 ms): a writer queued behind a transaction held 350 ms went on up to 100 ms after it ended.
    await _count(sqlite_database)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(sqlite_database, 1, held, release))
    await held.wait()

    async def second() -> float:
        async with sqlite_database.session() as session:
            session.add(_citizen(2))
        return time.monotonic()

    waiting = asyncio.create_task(second())
    await asyncio.sleep(0.35)
    assert not waiting.done()  # it waits for the first writer
    release.set()
    ended, wrote = await holder, await waiting
    assert wrote - ended < 0.05
    assert await _count(sqlite_database) == 2


async def test_readers_do_not_wait_for_a_writer(sqlite_database: Database) -> None:
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(sqlite_database, 1, held, release))
    await held.wait()
    try:
        assert await asyncio.wait_for(_count(sqlite_database), 2) == 0  # WAL: the committed state, at once
    finally:
        release.set()
        await holder
    assert await _count(sqlite_database) == 1


async def test_a_writer_that_waits_past_the_busy_timeout_fails_as_sqlite_would(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/short.db", connect_args={"timeout": 0.2})
    await db.create_all()
    try:
        held, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(_hold_write(db, 1, held, release))
        await held.wait()
        began = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            async with db.session() as session:
                session.add(_citizen(2))
        assert 0.15 < time.monotonic() - began < 2
        release.set()
        await holder
        async with db.session() as session:  # the turn is free again
            session.add(_citizen(3))
        assert await _count(db) == 2
    finally:
        await db.close()


async def test_the_turn_comes_back_after_a_failed_write_and_from_a_closed_connection(
        sqlite_database: Database) -> None:
    async with sqlite_database.session() as session:
        session.add(_citizen(1))
    with pytest.raises(IntegrityError):
        async with sqlite_database.session() as session:
            session.add(_citizen(1))  # refused: rolled back, and its turn given back
    # A connection closed (here: invalidated, as SQLAlchemy does with one it cannot trust) in a write transaction.
    async with sqlite_database.engine.connect() as connection:
        await connection.execute(text("INSERT INTO citizens (id, sub, ref, created_at) "
                                      "VALUES ('c-2', 'sub-2', 'ref-2', CURRENT_TIMESTAMP)"))
        await connection.invalidate()
    async with asyncio.timeout(2):  # not the 30 s busy timeout
        async with sqlite_database.session() as session:
            session.add(_citizen(3))
    assert await _count(sqlite_database) == 2


def test_statements_that_may_write_are_told_from_reads() -> None:
    for sql in ("INSERT INTO t VALUES (1)", "  update t set a = 1", "DELETE FROM t", "REPLACE INTO t VALUES (1)",
                "CREATE TABLE t (a)", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "DROP TABLE t",
                "with x as (select 1) delete from t where a in x", "WITH x AS (SELECT 1)\nUPDATE t SET a = 2",
                "WITH x AS (SELECT 'update') SELECT * FROM x"):
        assert may_write(sql), sql
    for sql in ("SELECT 1", "PRAGMA journal_mode=WAL", "select * from t", "", "   ",
                "WITH x AS (SELECT 1) SELECT * FROM x", "with recursive n(i) as (select 1 union all select i + 1 "
                "from n where i < 3) select i from n", "WITH updated_at AS (SELECT 1) SELECT * FROM updated_at"):
        assert not may_write(sql), sql


def _citizen_insert(dialect: str) -> Any:
    return insert(CitizenRow.__table__).returning(CitizenRow.__table__.c.id)


async def test_a_write_alone_commits_in_its_one_trip_and_holds_no_lock_after_it(sqlite_database: Database,
                                                                                crossings: Counter[str]) -> None:
    # With engine.begin() the commit was a second trip, and the write lock was held across the event loop meanwhile.
    await _count(sqlite_database)
    crossings.clear()
    values = {"id": "c-1", "sub": "sub-1", "ref": "ref-1", "created_at": datetime.now(UTC)}
    rows = await write_alone(sqlite_database.engine, _citizen_insert, values)
    assert [tuple(row) for row in rows] == [("c-1",)]
    assert crossings == Counter({"_run": 1})  # the statement and its commit; nothing to end after it
    assert await _count(sqlite_database) == 1  # committed: another connection sees it
    async with asyncio.timeout(2):  # and the write lock is free
        async with sqlite_database.session() as session:
            session.add(_citizen(2))
    with pytest.raises(IntegrityError):  # refused: rolled back, its turn given back
        await write_alone(sqlite_database.engine, _citizen_insert, values)
    async with asyncio.timeout(2):
        async with sqlite_database.session() as session:
            session.add(_citizen(3))
    assert await _count(sqlite_database) == 3


async def test_a_transactions_last_statement_commits_in_its_trip_when_told(sqlite_database: Database,
                                                                           crossings: Counter[str]) -> None:
    await _count(sqlite_database)
    crossings.clear()
    async with sqlite_database.engine.begin() as connection:
        await connection.execute(insert(CitizenRow.__table__), _values(1))
        await commits_with_next(connection)
        await connection.execute(insert(CitizenRow.__table__), [_values(2), _values(3)])  # an executemany
    assert crossings == Counter({"_run": 2})  # the commit went with the last statement
    assert await _count(sqlite_database) == 3
    async with asyncio.timeout(2):  # and the write lock is free
        async with sqlite_database.session() as session:
            session.add(_citizen(4))
    assert await _count(sqlite_database) == 4


def _values(n: int) -> dict[str, Any]:
    return {"id": f"c-{n}", "sub": f"sub-{n}", "ref": f"ref-{n}", "created_at": datetime.now(UTC)}


async def test_a_commit_in_trip_whose_statement_never_ran_does_not_pass_to_the_next_user(
        sqlite_database: Database) -> None:
    await _count(sqlite_database)
    async with sqlite_database.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert isinstance(raw, OneTripConnection)
        await commits_with_next(connection)
        naive = {**_values(1), "created_at": datetime(2026, 1, 1)}  # refused by the column's type, before the trip
        with pytest.raises(StatementError):
            await connection.execute(insert(CitizenRow.__table__), naive)
        await connection.rollback()
        assert raw.commit_next is False
        # The next transaction on this connection: its first statement must not commit on its own.
        await connection.execute(insert(CitizenRow.__table__), _values(2))
        await connection.rollback()
    assert await _count(sqlite_database) == 0
