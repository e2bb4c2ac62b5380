"""Delivery to departments: reference numbers issued once, the inbox never duplicates, HTTP outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from onestop.engine.applications import delivery
from onestop.engine.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await database.create_all()
    yield database
    await database.close()


async def test_a_reference_number_is_issued_once_per_application(db: Database) -> None:
    first = await delivery.allocate_reference(db, "app-1", "TD", 2026)
    again = await delivery.allocate_reference(db, "app-1", "TD", 2026)
    other = await delivery.allocate_reference(db, "app-2", "IMMD", 2026)
    assert first == again == "TD-2026-000001"
    assert other == "IMMD-2026-000002"


async def test_concurrent_allocations_for_one_application_agree(db: Database) -> None:
    numbers = await asyncio.gather(*(delivery.allocate_reference(db, "app-x", "TD", 2026) for _ in range(5)))
    assert len(set(numbers)) == 1


async def test_the_inbox_keeps_one_copy_of_a_redelivered_submission(db: Database) -> None:
    args = {"application_id": "app-1", "department": "TD", "reference_number": "TD-2026-000001",
            "service_id": "s", "citizen_ref": "ref", "jws": "a.b.c"}
    assert await delivery.deliver_to_inbox(db, **args) is True
    assert await delivery.deliver_to_inbox(db, **args) is False
    assert [i.application_id for i in await delivery.inbox(db, "TD")] == ["app-1"]
    assert await delivery.inbox(db, "IMMD") == []


def client_answering(status: int, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(("status", "fresh"), [(200, True), (202, True), (409, False)])
async def test_accepted_and_already_received_answers_complete_delivery(status: int, fresh: bool) -> None:
    seen: list[httpx.Request] = []
    async with client_answering(status, seen) as client:
        assert await delivery.deliver_http(client, "http://127.0.0.1:9/x", application_id="app-1", jws="j") is fresh
    assert seen[0].headers["idempotency-key"] == "app-1"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_temporary_failures_raise_so_the_activity_retries(status: int) -> None:
    async with client_answering(status, []) as client:
        with pytest.raises(httpx.HTTPStatusError):
            await delivery.deliver_http(client, "http://127.0.0.1:9/x", application_id="app-1", jws="j")


async def test_a_permanent_refusal_is_a_delivery_failure() -> None:
    async with client_answering(400, []) as client:
        with pytest.raises(delivery.DeliveryFailed) as failed:
            await delivery.deliver_http(client, "http://127.0.0.1:9/x", application_id="app-1", jws="j")
    assert failed.value.code == "DELIVERY_FAILED"
