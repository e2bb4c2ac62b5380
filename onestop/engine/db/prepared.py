"""Core statements built once per dialect, for the hot paths where the ORM's unit of work buys nothing.

A statement object built once keeps its cache key (SQLAlchemy memoizes it on the object), so executing it again
costs no key generation and finds its compiled form in the engine's cache at once; the values go in as execution
parameters. A statement built on every call (``select(Row).where(Row.id == value)``, or ``session.get``) generates
its key each time, and ORM statements add the identity map, attribute events and the unit of work on top.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
