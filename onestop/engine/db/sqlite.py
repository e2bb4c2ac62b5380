"""SQLite connections that cross to their thread once per statement.

aiosqlite runs each connection in a thread of its own and crosses to it for every call, and SQLAlchemy's adapter
makes four calls per statement (open a cursor, execute, fetch the rows, close the cursor) and one more for the pool's
rollback when a connection goes back after its commit. Each crossing is a queue put, a thread wake-up, a hand-over of
the GIL and a wake-up of the event loop through its self-pipe: under load that cost more of the loop than the SQL.

``OneTripConnection`` keeps aiosqlite's thread and queue but runs a whole statement (cursor, execute, rows, close)
in one crossing, and skips the commit or rollback of a connection with no transaction open (the sqlite3 module
would do nothing there, but only after the crossing). It is installed on every SQLite engine by ``install``.

SQLite lets one writer in at a time. A writer that finds the write lock taken used to wait in SQLite's busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms between looks whether or not the lock
was freed meanwhile. A write transaction is held across awaits on the event loop, so under load the writers queued
behind one slept, and slept longer the longer the queue: with 16 citizens submitting at once, a reference number's
insert waited 39 ms at the median and 834 ms at the 95th percentile, most of it with the lock free. ``WriteTurns``
makes the writers of one engine take turns in their connections' threads instead: a statement that may write takes
the turn before it runs (unless its connection holds it), the end of its transaction gives it back, and the next
writer's thread goes on at that moment, without a trip through the event loop. SQLite's busy handler is left for
writers in other processes on the same file.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_Outcome = tuple[Any, int, int | None, list[Any], bool]
"""A statement's description, rowcount, lastrowid, rows, and whether a transaction is open after it."""


_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"})
"""First words of a statement that may take SQLite's write lock."""

_WRITE_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
"""In a statement beginning with WITH: a word that may begin its INSERT, UPDATE or DELETE. A read naming one of
these words (in a literal, say) is taken as a write: it only waits for the write turn."""


def may_write(sql: str) -> bool:
    """Whether ``sql`` may take SQLite's write lock; a SELECT, a WITH … SELECT or a PRAGMA does not (WAL readers
    never wait)."""
    head = sql.lstrip()[:8].split(None, 1)
    if not head:
        return False
    word = head[0].upper()
    if word == "WITH":
        return _WRITE_WORD.search(sql) is not None
    return word in _WRITES


class WriteTurns:
    """The writers of one engine take turns: at most one of its connections has a write transaction open; the
    others' threads wait on a lock, at most ``timeout`` seconds (the connections' busy timeout, sqlite3's
    ``timeout``), and then fail as SQLite fails a writer whose busy timeout ran out."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self.holder: sqlite3.Connection | None = None  # set and cleared by the holder's own thread

    def take(self, connection: sqlite3.Connection) -> None:
        if self.holder is connection:
            return
        if not self._lock.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked")
        self.holder = connection

    def give_back(self, connection: sqlite3.Connection) -> None:
        if self.holder is connection:
            self.holder = None
            self._lock.release()


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool,
         turns: WriteTurns | None = None, commit: bool = False) -> _Outcome:
    if turns is not None and may_write(sql):
        turns.take(connection)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        if commit and connection.in_transaction:
            connection.commit()  # the statement is the whole transaction (``commit_in_trip``)
        return description, cursor.rowcount, cursor.lastrowid, rows, connection.in_transaction
    finally:
        cursor.close()
        if turns is not None and not connection.in_transaction:
            turns.give_back(connection)  # written outside a transaction, or none is open any more


def _end(connection: sqlite3.Connection, commit: bool, turns: WriteTurns | None = None) -> bool:
    try:
        if commit:
            connection.commit()
        else:
            connection.rollback()
        return connection.in_transaction
    finally:
        # Ended, or failed to end (SQLAlchemy then invalidates the connection, and closing it ends the transaction):
        # either way this connection writes no more in it.
        if turns is not None:
            turns.give_back(connection)


def _close(connection: sqlite3.Connection, turns: WriteTurns | None) -> None:
    try:
        connection.close()
    finally:
        if turns is not None:
            turns.give_back(connection)


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
        commit, connection.commit_next = connection.commit_next, False
        try:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]  # aiosqlite's queue
                _run, connection._conn, sql, parameters, many, connection.turns, commit)
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

    turns: WriteTurns | None = None
    """The turns its engine's writers take (``install`` sets them); None: SQLite's busy handler alone."""

    commit_next = False
    """The next statement commits in its own trip (``commit_in_trip``)."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]  # SQLAlchemy awaits __aenter__ on it
        return OneTripCursor(self)

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        # A statement told to commit in its trip that failed before reaching the thread (a bind value refused) left
        # the flag set: it must not make the next user's first statement commit alone.
        self.commit_next = False
        if not self.transaction_open:
            return  # sqlite3 would do nothing: no statement since the last end opened a transaction
        try:
            self.transaction_open = await self._execute(  # type: ignore[no-untyped-call]
                _end, self._conn, commit, self.turns)
        except BaseException:
            self.transaction_open = True
            raise

    async def close(self) -> None:
        # As aiosqlite closes, with the turn given back in case a transaction was still open (closing ends it).
        if self._connection is None:
            return
        try:
            await self._execute(_close, self._conn, self.turns)  # type: ignore[no-untyped-call]
        finally:
            self._connection = None
            stopped = self.stop()
            if stopped:
                await stopped

    def stop(self) -> Any:
        # SQLAlchemy's forced close: the connection closes in its thread first, giving the turn back if it held it.
        self.commit_next = False
        if self.turns is not None and self._connection is not None:
            self._tx.put_nowait((None, functools.partial(_close, self._connection, self.turns)))
        return super().stop()


def commit_in_trip(connection: Any) -> None:
    """The next statement on ``connection`` (a ``OneTripConnection``) is its transaction's only one: it commits in
    the same trip to the connection's thread, so the write lock is held for the statement alone and never across
    the event loop, and the caller's commit then finds no transaction open and needs no trip."""
    if isinstance(connection, OneTripConnection):
        connection.commit_next = True


def _opener(database: str, **options: Any) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **options)
        return connection

    return connect


def install(engine: AsyncEngine) -> None:
    """Make every new connection of a SQLite ``engine`` a ``OneTripConnection``, its writers taking ``WriteTurns``
    for as long as the connections' busy timeout (sqlite3's ``timeout``, 5 s unless the engine says otherwise)."""
    turns: list[WriteTurns] = []  # one for the engine, made with its first connection's timeout

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        def create(*args: Any, **options: Any) -> OneTripConnection:
            connection = OneTripConnection(_opener(str(args[0]), **options), 64)
            connection._thread.daemon = True  # as SQLAlchemy sets it for aiosqlite's own connections
            if not turns:
                turns.append(WriteTurns(float(options.get("timeout", 5.0))))
            connection.turns = turns[0]
            return connection

        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=create, **cparams)

    del _connect
