"""SQLite connections that cross to their thread once per statement (``engine/db/sqlite.py``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from onestop.engine.db import CitizenRow, Database
from onestop.engine.db.sqlite import OneTripConnection


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


def _citizen(n: int) -> CitizenRow:
    from datetime import UTC, datetime

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
