"""The processes sharing one database: each records a heartbeat row, so a replica starting up can see the others
and warn about configuration they must agree on (today: the public URL)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from onestop.engine.db import Database, ProcessRow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
# A process that missed three heartbeats is gone (killed, or its host lost); its row is removed.
_LIVE_FOR = timedelta(seconds=3 * HEARTBEAT_SECONDS)
# Roles whose public URL names the API to clients (the development identity provider's issuer, links).
API_ROLES = frozenset({"serve", "api"})


@dataclass(frozen=True)
class Peer:
    """Another live process on the same database."""

    role: str
    host: str
    pid: int
    public_url: str | None


class ProcessRegistry:
    """This process's heartbeat row: written at start, refreshed while running, removed at a clean stop."""

    def __init__(self, database: Database, *, role: str, public_url: str | None) -> None:
        self.database = database
        self.role = role
        self.public_url = public_url
        self.id = str(uuid.uuid4())
        self._task: asyncio.Task[None] | None = None

    async def join(self, now: datetime | None = None) -> list[Peer]:
        """Record this process; returns the other live processes."""
        now = now or datetime.now(UTC)
        async with self.database.session() as session:
            await session.execute(delete(ProcessRow).where(ProcessRow.seen_at < now - _LIVE_FOR))
            session.add(ProcessRow(id=self.id, role=self.role, host=socket.gethostname(), pid=os.getpid(),
                                   public_url=self.public_url, started_at=now, seen_at=now))
        async with self.database.session() as session:
            rows = await session.scalars(select(ProcessRow).where(ProcessRow.id != self.id)
                                         .order_by(ProcessRow.started_at))
            return [Peer(r.role, r.host, r.pid, r.public_url) for r in rows]

    async def beat(self, now: datetime | None = None) -> None:
        async with self.database.session() as session:
            await session.execute(update(ProcessRow).where(ProcessRow.id == self.id)
                                  .values(seen_at=now or datetime.now(UTC)))

    def start(self) -> None:
        """Refresh the heartbeat every ``HEARTBEAT_SECONDS`` until ``leave``."""
        self._task = asyncio.create_task(self._beating())

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except Exception:  # a database hiccup must not stop the process; the next beat tries again
                log.warning("process heartbeat failed", exc_info=True)

    async def leave(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        async with self.database.session() as session:
            await session.execute(delete(ProcessRow).where(ProcessRow.id == self.id))


def public_url_warning(public_url: str | None, peers: Sequence[Peer]) -> str | None:
    """Why API processes sharing this database may refuse each other's tokens; None when they agree."""
    apis = [peer for peer in peers if peer.role in API_ROLES]
    differing = apis if public_url is None else [peer for peer in apis if peer.public_url != public_url]
    if not differing:
        return None
    others = "; ".join(f"{peer.role} on {peer.host} pid {peer.pid}: {peer.public_url or 'not set'}"
                       for peer in differing)
    return (f"the API processes sharing this database do not share one ONESTOP_PUBLIC_URL (this process: "
            f"{public_url or 'not set'}; {others}). Without one, each replica names itself by its own host:port, "
            "so behind a load balancer a token issued through one is refused by the others; set "
            "ONESTOP_PUBLIC_URL to the URL clients use, the same on every replica")
