"""Security events: pseudonymous, hash-chained per (kind, day), recorded without ever failing the caller, expired
by whole days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.db import Database, SecurityEventRow
from onestop.engine.errors import ChainBroken
from onestop.engine.security import EventKind, SecurityEventLog, SecurityEvents
from onestop.engine.security.events import partition_of

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)



@pytest.fixture
def recorder(database: Database) -> SecurityEvents:
    return SecurityEvents(database, FieldCipher(KeyRing.single(b"k" * 32)), flush_seconds=60)


async def test_events_store_only_keyed_pseudonyms(recorder: SecurityEvents, database: Database) -> None:
    recorder.record(EventKind.SIGN_IN, citizen_ref="ref-1", staff="staff-sub", ip="203.0.113.9", outcome="ok", at=NOW)
    assert await recorder.flush() == 1
    async with database.session() as session:
        row = (await session.scalars(select(SecurityEventRow))).one()
    assert row.citizen == recorder.citizen_key("ref-1") != "ref-1"
    assert row.staff == recorder.staff_key("staff-sub")
    assert row.ip == recorder.ip_key("203.0.113.9")
    assert "203.0.113.9" not in str(row.detail)
    assert len({row.citizen, row.staff, row.ip}) == 3


async def test_each_kind_and_day_is_its_own_chain_that_verifies(recorder: SecurityEvents,
                                                                 database: Database) -> None:
    for n in range(5):
        recorder.record(EventKind.TOKEN_REFUSED, ip=f"ip-{n}", outcome="token_expired", at=NOW)
        recorder.record(EventKind.RATE_LIMITED, ip=f"ip-{n}", at=NOW + timedelta(days=n % 2))
    await recorder.flush()
    recorder.record(EventKind.TOKEN_REFUSED, ip="late", outcome="bad_signature", at=NOW)
    recorder.record(EventKind.RATE_LIMITED, ip="late", at=NOW + timedelta(days=1))
    await recorder.flush()  # a second batch continues the same chains (their heads read together)
    log = SecurityEventLog(database)
    assert await log.verify(partition_of(EventKind.TOKEN_REFUSED, NOW)) == 6
    assert await log.verify(partition_of(EventKind.RATE_LIMITED, NOW)) == 3
    assert await log.verify(partition_of(EventKind.RATE_LIMITED, NOW + timedelta(days=1))) == 3


async def test_editing_an_event_breaks_its_chain(recorder: SecurityEvents, database: Database) -> None:
    for outcome in ("a", "b", "c"):
        recorder.record(EventKind.TOKEN_REFUSED, outcome=outcome, at=NOW)
    await recorder.flush()
    async with database.session() as session:
        await session.execute(update(SecurityEventRow).where(SecurityEventRow.seq == 2).values(outcome="x"))
    with pytest.raises(ChainBroken, match="content changed"):
        await SecurityEventLog(database).verify(partition_of(EventKind.TOKEN_REFUSED, NOW))


async def test_recording_never_fails_the_caller_and_keeps_events_when_the_database_is_down(
        tmp_path: Path) -> None:
    broken = Database(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/none/events.db")
    recorder = SecurityEvents(broken, FieldCipher(KeyRing.single(b"k" * 32)), flush_seconds=60)
    recorder.record(EventKind.SIGN_IN, citizen_sub="sub", outcome="ok")  # no exception
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises, the queue survives
        await recorder.flush()
    assert len(recorder._queue) == 1
    await broken.close()


async def test_a_sign_in_reported_by_subject_gets_the_citizens_key(recorder: SecurityEvents,
                                                                   database: Database) -> None:
    from onestop.engine.data.profiles import CitizenDirectory

    citizen = await CitizenDirectory(database, recorder.cipher).ensure("pairwise-sub")
    recorder.record(EventKind.SIGN_IN, citizen_sub="pairwise-sub", outcome="ok", at=NOW)
    recorder.record(EventKind.CONSENT_GRANTED, citizen_ref=citizen.ref, at=NOW)
    await recorder.flush()
    async with database.session() as session:
        keys = set((await session.scalars(select(SecurityEventRow.citizen))).all())
    assert keys == {recorder.citizen_key(citizen.ref)}


async def test_retention_deletes_whole_days_before_the_cutoff(recorder: SecurityEvents, database: Database) -> None:
    for days_ago in (0, 1, 40, 91, 120):
        recorder.record(EventKind.SIGN_IN, outcome="ok", at=NOW - timedelta(days=days_ago))
    await recorder.flush()
    log = SecurityEventLog(database)
    assert await log.purge(NOW - timedelta(days=90)) == 2
    async with database.session() as session:
        left = sorted((NOW - at).days for at in (await session.scalars(select(SecurityEventRow.at))).all())
    assert left == [0, 1, 40]
