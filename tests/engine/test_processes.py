"""Processes sharing a database see each other through heartbeat rows, and APIs must share one public URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from onestop.engine.db import Database, ProcessRow
from onestop.engine.processes import Peer, ProcessRegistry, public_url_warning

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def test_a_starting_process_sees_the_live_processes_but_not_the_stale_ones(database: Database) -> None:
    gone = ProcessRegistry(database, role="api", public_url=None)
    await gone.join(NOW - timedelta(minutes=10))  # killed long ago: its heartbeat stopped
    live = ProcessRegistry(database, role="worker", public_url="https://onestop.example")
    assert await live.join(NOW - timedelta(seconds=20)) == []
    starting = ProcessRegistry(database, role="api", public_url="https://onestop.example")
    peers = await starting.join(NOW)
    assert [(p.role, p.public_url) for p in peers] == [("worker", "https://onestop.example")]
    await live.leave()
    await starting.leave()
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessRow)) == 0


async def test_a_heartbeat_keeps_a_process_live(database: Database) -> None:
    old = ProcessRegistry(database, role="api", public_url=None)
    await old.join(NOW - timedelta(minutes=10))
    await old.beat(NOW - timedelta(seconds=5))
    peers = await ProcessRegistry(database, role="api", public_url=None).join(NOW)
    assert [p.role for p in peers] == ["api"]


def _api(url: str | None, role: str = "api") -> Peer:
    return Peer(role, "host-b", 42, url)


@pytest.mark.parametrize(("own", "peers", "warns"), [
    (None, [], False),
    ("https://onestop.example", [_api("https://onestop.example")], False),
    (None, [_api(None, role="worker")], False),  # workers issue no tokens and build no links
    (None, [_api(None)], True),
    (None, [_api("https://onestop.example")], True),
    ("https://onestop.example", [_api(None)], True),
    ("https://onestop.example", [_api("https://other.example", role="serve")], True),
])
def test_apis_sharing_a_database_must_share_one_public_url(own: str | None, peers: list[Peer], warns: bool) -> None:
    warning = public_url_warning(own, peers)
    assert (warning is not None) == warns
    if warning is not None:
        assert "ONESTOP_PUBLIC_URL" in warning
        assert "host-b pid 42" in warning
