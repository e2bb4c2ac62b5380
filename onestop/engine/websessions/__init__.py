"""Web sessions in the database, so any web replica behind a load balancer serves any browser.

The rows hold what the web app hands over: a slot (a hash of the cookie's id) and ciphertext sealed by the web
app's key. Nothing here can read a session; the web app never learns there is a database.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onestop.engine.db import Database, WebSessionRow


class SqlSessionRows:
    """The web app's session rows on the platform database (SQLite or PostgreSQL)."""

    def __init__(self, database: Database, *, owned: bool = False) -> None:
        self.database = database
        self.owned = owned

    async def aclose(self) -> None:
        """Close the database when these rows opened it for themselves (``onestop web``)."""
        if self.owned:
            await self.database.close()

    async def get(self, slot: str) -> tuple[float, bytes] | None:
        async with self.database.session() as session:
            row = (await session.execute(select(WebSessionRow.touched_at, WebSessionRow.blob)
                                         .where(WebSessionRow.slot == slot))).first()
        return None if row is None else (row[0], row[1])

    async def put(self, slot: str, blob: bytes, touched_at: float) -> None:
        dialect = self.database.engine.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(WebSessionRow).values(slot=slot, blob=blob, touched_at=touched_at)
        statement = statement.on_conflict_do_update(index_elements=[WebSessionRow.slot],
                                                    set_={"blob": blob, "touched_at": touched_at})
        async with self.database.session() as session:
            await session.execute(statement)

    async def delete(self, slot: str) -> None:
        async with self.database.session() as session:
            await session.execute(delete(WebSessionRow).where(WebSessionRow.slot == slot))

    async def expire(self, cutoff: float) -> None:
        async with self.database.session() as session:
            await session.execute(delete(WebSessionRow).where(WebSessionRow.touched_at < cutoff))


__all__ = ["SqlSessionRows"]
