"""One catalogue reload reaches every process on the database: API replicas and workers alike.

A process that reloads its definitions on its own (SIGHUP, file polling) announces the version it now serves in
the ``catalogue_versions`` row, raising its generation. Every process reads that row every few seconds (one
primary-key read) and, on a generation it has not seen, reloads from its own definitions directory. All
processes are meant to read the same definitions tree (a shared volume, or the same image); a process whose tree
gives another version keeps checking its files until they catch up, and says so in the log.

Only local reloads announce, so a reload prompted by an announcement never echoes back to the others.

On PostgreSQL an announcement also sends ``NOTIFY onestop_catalogue`` in its own transaction, and every process
LISTENs on a connection of its own (outside the pool), so the others check at once instead of at their next poll.
Polling stays as the fallback: for SQLite, and for a notification lost while a listening connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from onestop.engine.catalogue_store import CatalogueSnapshot, CatalogueStore
from onestop.engine.db import CatalogueVersionRow, Database

log = logging.getLogger(__name__)

_NAME = "definitions"
CHANNEL = "onestop_catalogue"
"""The PostgreSQL notification channel of announcements (the payload is the new generation)."""


@dataclass(frozen=True)
class Announcement:
    """The version a process announced most recently, and which announcement it was."""

    generation: int
    version: str
    announced_by: str
    announced_at: datetime


def _this_process() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class CatalogueWatch:
    """Announces this process's own reloads and follows everyone else's."""

    def __init__(self, database: Database, store: CatalogueStore, *, announced_by: str | None = None,
                 also: Sequence[Callable[[], Awaitable[object]]] = ()) -> None:
        """``also`` runs on every announcement this process follows, as a SIGHUP runs it (e.g. re-read the feeds,
        which a reload may have changed without changing the catalogue's version)."""
        self.database = database
        self.store = store
        self.also = tuple(also)
        # Run before a reload an announcement prompts: bring this process's tree up to what the database says is
        # live (promoted sandbox services), for replicas that do not share the announcing process's tree.
        self.before_reload: list[Callable[[], Awaitable[object]]] = []
        self.announced_by = announced_by or _this_process()
        self._seen = 0
        self._latest: Announcement | None = None
        self._task: asyncio.Task[None] | None = None
        self._notified = asyncio.Event()
        self._listener: Any = None  # the asyncpg connection LISTENing, on PostgreSQL

    @property
    def latest(self) -> Announcement | None:
        """The newest announcement this process has read; None before the first read or when there is none."""
        return self._latest

    async def read(self) -> Announcement | None:
        async with self.database.session() as session:
            row = await session.get(CatalogueVersionRow, _NAME)
            if row is None:
                return None
            return Announcement(row.generation, row.version, row.announced_by, row.announced_at)

    async def announce(self, snapshot: CatalogueSnapshot) -> Announcement:
        """Tell every process that ``snapshot``'s version is the one to serve now."""
        now = datetime.now(UTC)
        dialect = postgresql if self._postgresql else sqlite
        values = {"name": _NAME, "generation": 1, "version": snapshot.catalogue.version,
                  "announced_by": self.announced_by[:300], "announced_at": now}
        insert = dialect.insert(CatalogueVersionRow).values(**values)
        # One statement, so two processes announcing at once both get a generation of their own.
        upsert = insert.on_conflict_do_update(
            index_elements=[CatalogueVersionRow.name],
            set_={"generation": CatalogueVersionRow.generation + 1, "version": insert.excluded.version,
                  "announced_by": insert.excluded.announced_by, "announced_at": insert.excluded.announced_at},
        ).returning(CatalogueVersionRow.generation)
        async with self.database.session() as session:
            generation = (await session.execute(upsert)).scalar_one()
            if self._postgresql:
                # Delivered when this transaction commits, so a listener reads the row already changed.
                await session.execute(text("SELECT pg_notify(:channel, :generation)"),
                                      {"channel": CHANNEL, "generation": str(generation)})
        announcement = Announcement(generation, snapshot.catalogue.version, self.announced_by, now)
        # Our own announcement needs no reload here.
        self._seen = max(self._seen, generation)
        self._latest = announcement
        log.info("catalogue version %s announced to every process (generation %d)",
                 announcement.version, generation)
        return announcement

    async def check(self) -> bool:
        """Read the announced version; reload when it is new to this process. True when a reload ran."""
        latest = await self.read()
        if latest is None:
            return False
        self._latest = latest
        served = self.store.catalogue.version
        if latest.generation > self._seen:
            self._seen = latest.generation
            if latest.version != served:
                log.info("catalogue version %s announced by %s; reloading", latest.version, latest.announced_by)
                await self._prepare()
                await self.store.reload(announce=False)
            for extra in self.also:
                await extra()
            if latest.version == served:
                return False
        elif latest.version != served:
            # Still behind (this process's copy of the tree had not changed yet): reload only when its files move.
            await self._prepare()
            if await self.store.reload_if_changed(announce=False) is None:
                return False
        else:
            return False
        if self.store.catalogue.version != latest.version:
            log.warning("catalogue version %s was announced by %s, but this process's definitions in %s give "
                        "version %s; every process should read the same definitions tree",
                        latest.version, latest.announced_by, self.store.root, self.store.catalogue.version)
        return True

    async def _prepare(self) -> None:
        for prepare in self.before_reload:
            try:
                await prepare()
            except Exception:  # the reload goes on with the tree as it is
                log.warning("could not prepare the definitions tree before a reload", exc_info=True)

    async def start(self, interval: float) -> None:
        """Remember the current announcement, announce this process's reloads, and check every ``interval``
        seconds (0: announce only, never follow)."""
        current = await self.read()
        if current is not None:
            # What was announced before this process loaded its tree is already in that tree.
            self._seen = current.generation
            self._latest = current
        self.store.on_reload(self.announce)
        if interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(interval), name="catalogue-watch")

    @property
    def listening(self) -> bool:
        """Whether announcements reach this process at once (PostgreSQL LISTEN), not only at its next poll."""
        return self._listener is not None and not self._listener.is_closed()

    @property
    def _postgresql(self) -> bool:
        return self.database.engine.dialect.name == "postgresql"

    async def _watch(self, interval: float) -> None:
        while True:
            if self._postgresql and not self.listening:
                await self._listen()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._notified.wait(), interval)
            self._notified.clear()
            try:
                await self.check()
            except Exception:  # a watcher that dies silently would leave this process on an old catalogue
                log.warning("catalogue version check failed", exc_info=True)

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; on failure the poll carries on and the next round tries again."""
        import asyncpg  # type: ignore[import-untyped]  # the PostgreSQL driver; only PostgreSQL reaches here

        await self._unlisten()
        engine = self.database.engine
        _args, params = engine.dialect.create_connect_args(engine.url)
        try:
            connection = await asyncpg.connect(**params, timeout=10)
            await connection.add_listener(CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError):
            log.warning("cannot LISTEN for catalogue announcements; following them by polling only", exc_info=True)
            return
        self._listener = connection
        # An announcement made while no connection listened is read by this check, not lost.
        self._notified.set()

    def _on_notify(self, *_notification: object) -> None:
        self._notified.set()

    async def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; it is gone either way
                await listener.close(timeout=2)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._unlisten()
