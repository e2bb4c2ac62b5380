"""The slot store on SQLite and PostgreSQL: concurrent holds never overfill a slot; releases give places back once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from onestop.engine.appointments import Hold, SlotStore
from onestop.engine.db import Database

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def hold(n: int, *, capacity: int = 10, release: str | None = None, held: bool = True) -> Hold:
    return Hold(booking_id=f"app-{n}/slot/1", application_id=f"app-{n}", service_id="svc", office="kowloon",
                starts_at=START, ends_at=START + timedelta(minutes=30), capacity=capacity,
                held_until=START - timedelta(days=1) if held else None, release=release)


async def test_fifty_concurrent_holds_for_ten_places_give_exactly_ten(database: Database) -> None:
    store = SlotStore(database)
    results = await asyncio.gather(*(store.hold(hold(n)) for n in range(50)))
    assert results.count(True) == 10
    assert await store.count_active("svc", "kowloon", START) == 10
    assert (await store.booked("svc", "kowloon", START, START))[START] == 10


async def test_a_retried_hold_takes_no_second_place(database: Database) -> None:
    store = SlotStore(database)
    assert await store.hold(hold(1, capacity=1))
    assert await store.hold(hold(1, capacity=1))  # the retry answers as the first attempt did
    assert not await store.hold(hold(2, capacity=1))
    assert (await store.booked("svc", "kowloon", START, START))[START] == 1


@pytest.mark.parametrize("times", [1, 3])
async def test_a_release_gives_the_place_back_once(database: Database, times: int) -> None:
    store = SlotStore(database)
    assert await store.hold(hold(1, capacity=1))
    outcomes = await asyncio.gather(*(store.release(hold(1).booking_id) for _ in range(times)))
    assert outcomes.count(True) == 1
    assert (await store.booked("svc", "kowloon", START, START))[START] == 0
    assert await store.hold(hold(2, capacity=1))


async def test_a_reschedule_holds_the_new_slot_and_releases_the_old_in_one_go(database: Database) -> None:
    store = SlotStore(database)
    assert await store.hold(hold(1))
    later = Hold(booking_id="app-1/slot/2", application_id="app-1", service_id="svc", office="kowloon",
                 starts_at=START + timedelta(hours=1), ends_at=START + timedelta(hours=1, minutes=30), capacity=10,
                 held_until=None, release=hold(1).booking_id)
    assert await store.hold(later)
    counts = await store.booked("svc", "kowloon", START, START + timedelta(hours=1))
    assert counts == {START: 0, START + timedelta(hours=1): 1}
    states = {r.booking_id: r.state for r in await store.bookings("app-1")}
    assert states == {"app-1/slot/1": "released", "app-1/slot/2": "confirmed"}
    assert await store.confirm("app-1/slot/2") is False  # already confirmed
