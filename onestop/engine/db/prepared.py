"""Core statements built once per dialect, for the hot paths where the ORM's unit of work buys nothing.

A statement object built once keeps its cache key (SQLAlchemy memoizes it on the object), so executing it again
costs no key generation and finds its compiled form in the engine's cache at once; the values go in as execution
parameters. A statement built on every call (``select(Row).where(Row.id == value)``, or ``session.get``) generates
its key each time, and ORM statements add the identity map, attribute events and the unit of work on top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from onestop.engine.db.sqlite import commit_in_trip

Executor = AsyncSession | AsyncConnection
"""What a prepared statement runs on: a session's transaction or a connection's."""

T = TypeVar("T")

_BUILT: dict[tuple[Callable[[str], Any], str], Any] = {}


def dialect_of(executor: Executor) -> str:
    """``postgresql`` or ``sqlite``: the dialect a prepared statement is built for."""
    if isinstance(executor, AsyncConnection):
        return executor.dialect.name
    return executor.get_bind().dialect.name


def prepared(executor: Executor, build: Callable[[str], T]) -> T:
    """The statement ``build`` makes for the executor's dialect, built once per process and dialect."""
    dialect = dialect_of(executor)
    key = (build, dialect)
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build(dialect)
    return statement


async def write_alone(engine: AsyncEngine, build: Callable[[str], Any],
                      parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Any]:
    """Run the statement ``build`` makes as a transaction of its own, and return its rows (if it returns any).
    A sequence of ``parameters``: once for each (an executemany, one trip), and then no RETURNING.

    On SQLite the statement commits in the same trip to its connection's thread (``sqlite.commit_in_trip``): with
    ``engine.begin()`` the commit was a second trip, and SQLite's write lock was held across the event loop between
    the two, every other writer waiting (under load, a one-row upsert held it 6-12 ms at the median)."""
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            commit_in_trip((await connection.get_raw_connection()).driver_connection)
        values = dict(parameters) if isinstance(parameters, Mapping) else [dict(each) for each in parameters]
        result = await connection.execute(prepared(connection, build), values)
        rows = list(result.all()) if result.returns_rows else []
        await connection.commit()
    return rows


async def commits_with_next(executor: Executor) -> None:
    """The next statement on ``executor`` is the last of its transaction, whose commit follows with nothing in
    between that could fail: on SQLite it commits in the statement's own trip (``sqlite.commit_in_trip``), one trip
    through the event loop fewer with the write lock held, and the caller's commit then has nothing to do. The
    statement must be one call (a single statement, or an executemany without RETURNING)."""
    if dialect_of(executor) != "sqlite":
        return
    connection = executor if isinstance(executor, AsyncConnection) else await executor.connection()
    commit_in_trip((await connection.get_raw_connection()).driver_connection)


async def insert_row(executor: Executor, row: Any) -> None:
    """Insert a new ORM object's row as one Core statement (no unit of work): the values it was given, the columns'
    defaults for the rest. Nothing is read back (a server-generated key stays unknown to ``row``)."""
    table = row.__table__
    state = row.__dict__
    await executor.execute(prepared(executor, _insert_of(table)),
                           {column.key: state[column.key] for column in table.columns if column.key in state})


_INSERTS: dict[Any, Callable[[str], Any]] = {}


def _insert_of(table: Any) -> Callable[[str], Any]:
    build = _INSERTS.get(table)
    if build is None:
        def build(dialect: str) -> Any:
            return insert(table)

        _INSERTS[table] = build
    return build


def table_of(mapped: type[Any]) -> Table:
    """A mapped class's table, typed as one (``__table__`` is typed as any ``FromClause``)."""
    return cast(Table, mapped.__table__)


def insert_for(dialect: str) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_nothing``/``_do_update``): PostgreSQL's or SQLite's."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
