from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from onestop.engine.crypto.signing import Signer
from onestop.engine.data.accesslog import CHECKPOINT_TYP, AccessLog, AccessLogEntry
from onestop.engine.data.gateway import DataServices
from onestop.engine.db import Database
from onestop.engine.errors import ChainBroken, InvalidInput, SignatureInvalid

T0 = datetime(2026, 11, 27, tzinfo=UTC)


async def _fill(log: AccessLog, citizen_id: str, count: int) -> None:
    for n in range(count):
        await log.append(citizen_id, service_slug=f"service-{n}", department="TD", provider_id="td-licensing",
                         items=["td-licensing.driving-licence"], consent_id=f"c{n}", application_id="app",
                         outcome="allowed", at=T0 + timedelta(minutes=n))


async def test_chain_verifies(data_services: DataServices) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    await _fill(data_services.access_log, citizen.id, 5)
    assert await data_services.access_log.verify_chain(citizen.id) == 5
    assert await data_services.access_log.verify_all() == 5


@pytest.mark.parametrize(("statement", "reason"), [
    ("UPDATE access_log SET service_slug = 'innocent' WHERE seq = 3", "content changed"),
    ("UPDATE access_log SET outcome = 'refused' WHERE seq = 2", "content changed"),
    ("UPDATE access_log SET at = '2020-01-01 00:00:00.000000' WHERE seq = 4", "content changed"),
    ("DELETE FROM access_log WHERE seq = 3", "sequence gap"),
])
async def test_edited_or_removed_entry_is_detected(data_services: DataServices, database: Database,
                                                   statement: str, reason: str) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    await _fill(data_services.access_log, citizen.id, 5)
    async with database.engine.begin() as conn:
        await conn.execute(text(statement))
    with pytest.raises(ChainBroken, match=reason):
        await data_services.access_log.verify_chain(citizen.id)


async def test_rehashed_edit_still_breaks_the_link(data_services: DataServices, database: Database) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    await _fill(data_services.access_log, citizen.id, 3)
    async with database.engine.begin() as conn:
        await conn.execute(text("UPDATE access_log SET hash = :h WHERE seq = 2"), {"h": "f" * 64})
    with pytest.raises(ChainBroken) as caught:
        await data_services.access_log.verify_chain(citizen.id)
    assert caught.value.seq == 2


async def test_pages_newest_first_with_cursors(data_services: DataServices) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    await _fill(data_services.access_log, citizen.id, 5)
    page = await data_services.access_log.list("sub-a", first=2)
    assert [e.seq for e in page.entries] == [5, 4]
    assert page.has_next_page
    page = await data_services.access_log.list("sub-a", first=2, after=page.end_cursor)
    assert [e.seq for e in page.entries] == [3, 2]
    page = await data_services.access_log.list("sub-a", first=2, after=page.end_cursor)
    assert [e.seq for e in page.entries] == [1]
    assert not page.has_next_page


async def test_citizens_see_only_their_own_log(data_services: DataServices) -> None:
    a = await data_services.citizens.ensure("sub-a")
    await _fill(data_services.access_log, a.id, 2)
    await data_services.citizens.ensure("sub-b")
    assert (await data_services.access_log.list("sub-b")).entries == ()
    assert (await data_services.access_log.list("nobody")).entries == ()


@pytest.mark.parametrize(("first", "after", "path"), [(0, None, ("first",)), (101, None, ("first",)),
                                                      (10, "garbage!", ("after",))])
async def test_bad_paging_arguments_are_field_errors(data_services: DataServices, first: int,
                                                     after: str | None, path: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as caught:
        await data_services.access_log.list("sub-a", first=first, after=after)
    assert caught.value.errors[0].path == list(path)


async def test_concurrent_appends_keep_one_unbroken_chain(data_services: DataServices) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    await asyncio.gather(*(
        data_services.access_log.append(citizen.id, service_slug="s", department="TD", provider_id="p",
                                        items=["p.i"], consent_id=None, application_id=None, outcome="allowed")
        for _ in range(10)
    ))
    assert await data_services.access_log.verify_chain(citizen.id) == 10


async def test_signed_checkpoint_detects_truncation(data_services: DataServices, database: Database) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    await _fill(data_services.access_log, citizen.id, 4)
    checkpoint = await data_services.access_log.checkpoint(citizen.id)
    await _fill(data_services.access_log, citizen.id, 1)  # the log may grow after a checkpoint
    assert await data_services.access_log.verify_chain(citizen.id, checkpoint=checkpoint) == 5
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM access_log WHERE seq >= 3"))
    assert await data_services.access_log.verify_chain(citizen.id) == 2  # a shorter chain still links up
    with pytest.raises(ChainBroken, match="removed"):
        await data_services.access_log.verify_chain(citizen.id, checkpoint=checkpoint)


async def test_checkpoint_of_another_citizen_or_forged_is_refused(data_services: DataServices) -> None:
    a = await data_services.citizens.ensure("sub-a")
    b = await data_services.citizens.ensure("sub-b")
    await _fill(data_services.access_log, a.id, 2)
    checkpoint = await data_services.access_log.checkpoint(a.id)
    with pytest.raises(ChainBroken, match="another citizen"):
        await data_services.access_log.verify_chain(b.id, checkpoint=checkpoint)
    forged = Signer(bytes(32)).sign({"citizen": a.id, "seq": 1, "hash": "0" * 64}, typ=CHECKPOINT_TYP)
    with pytest.raises(SignatureInvalid):
        await data_services.access_log.verify_chain(a.id, checkpoint=forged)


@pytest.mark.parametrize("statement", [
    "UPDATE access_log SET actor_ref = 'someone-else' WHERE seq = 2",  # a different actor
    "UPDATE access_log SET actor_ref = NULL WHERE seq = 2",  # the actor erased: it would read as the citizen's own
])
async def test_the_actor_of_an_entry_is_part_of_the_chain(data_services: DataServices, database: Database,
                                                          statement: str) -> None:
    citizen = await data_services.citizens.ensure("sub-child")
    for n in range(3):
        await data_services.access_log.append(
            citizen.id, service_slug="primary-one-admission", department="EDB", provider_id="immd-records",
            items=["immd-records.hkid"], consent_id=f"c{n}", application_id="app", outcome="allowed",
            at=T0 + timedelta(minutes=n), actor_ref="parent-ref")
    page = await data_services.access_log.list("sub-child", first=10)
    assert {entry.actor_ref for entry in page.entries} == {"parent-ref"}
    assert await data_services.access_log.verify_chain(citizen.id) == 3
    async with database.engine.begin() as conn:
        await conn.execute(text(statement))
    with pytest.raises(ChainBroken, match="content changed"):
        await data_services.access_log.verify_chain(citizen.id)


async def test_an_append_reads_its_chain_once_for_both_its_head_and_a_retry_s_entries(
        data_services: DataServices, database: Database) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    log = data_services.access_log

    async def append(key: str) -> AccessLogEntry:
        return await log.append(citizen.id, service_slug="renew", department="TD", provider_id="td-licensing",
                                items=["td-licensing.driving-licence"], consent_id="c1", application_id="app",
                                outcome="allowed", at=T0, fetch_key=key)

    first = await append("fetch-1")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        again = await append("fetch-1")  # a retry of the same access: found, nothing appended
        retried = len(statements)
        second = await append("fetch-2")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert again == first
    # The chain's lock, then one read (the head and any entry of these keys); a new entry adds its insert.
    assert retried == 2
    assert statements[1] == "SELECT"
    assert statements[2:] == [statements[0], "SELECT", "INSERT"]
    assert second.seq == 2
    assert await log.verify_chain(citizen.id) == 2
