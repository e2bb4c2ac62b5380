"""SQLite connections that cross to their thread once per statement.

aiosqlite runs each connection in a thread of its own and crosses to it for every call, and SQLAlchemy's adapter
makes four calls per statement (open a cursor, execute, fetch the rows, close the cursor) and one more for the pool's
rollback when a connection goes back after its commit. Each crossing is a queue put, a thread wake-up, a hand-over of
the GIL and a wake-up of the event loop through its self-pipe: under load that cost more of the loop than the SQL.

``OneTripConnection`` keeps aiosqlite's thread and queue but runs a whole statement (cursor, execute, rows, close)
in one crossing, and skips the commit or rollback of a connection with no transaction open (the sqlite3 module
would do nothing there, but only after the crossing). It is installed on every SQLite engine by ``install``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_Outcome = tuple[Any, int, int | None, list[Any], bool]
"""A statement's description, rowcount, lastrowid, rows, and whether a transaction is open after it."""


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows, connection.in_transaction
    finally:
        cursor.close()


def _end(connection: sqlite3.Connection, commit: bool) -> bool:
    if commit:
        connection.commit()
    else:
        connection.rollback()
    return connection.in_transaction


class OneTripCursor:
    """The cursor SQLAlchemy's aiosqlite adapter drives: every statement's rows are fetched with it."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        return await self._trip(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> OneTripCursor:
        return await self._trip(sql, parameters, many=True)

    async def _trip(self, sql: str, parameters: Any, *, many: bool) -> OneTripCursor:
        connection = self._connection
        try:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]  # aiosqlite's queue
                _run, connection._conn, sql, parameters, many)
        except BaseException:
            connection.transaction_open = True  # unknown after a failure: the next commit or rollback goes through
            raise
        self.description, self.rowcount, self.lastrowid, self._rows, connection.transaction_open = outcome
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []

    async def setinputsizes(self, *_: Any) -> None:
        return None


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection with ``OneTripCursor`` cursors and no crossing to end a transaction never begun."""

    transaction_open = True
    """Whether the sqlite3 connection may have a transaction open; known after each statement, commit and rollback."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]  # SQLAlchemy awaits __aenter__ on it
        return OneTripCursor(self)

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        if not self.transaction_open:
            return  # sqlite3 would do nothing: no statement since the last end opened a transaction
        try:
            self.transaction_open = await self._execute(_end, self._conn, commit)  # type: ignore[no-untyped-call]
        except BaseException:
            self.transaction_open = True
            raise


def _opener(database: str, **options: Any) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **options)
        return connection

    return connect


def install(engine: AsyncEngine) -> None:
    """Make every new connection of a SQLite ``engine`` a ``OneTripConnection``."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        def create(*args: Any, **options: Any) -> OneTripConnection:
            connection = OneTripConnection(_opener(str(args[0]), **options), 64)
            connection._thread.daemon = True  # as SQLAlchemy sets it for aiosqlite's own connections
            return connection

        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=create, **cparams)

    del _connect
