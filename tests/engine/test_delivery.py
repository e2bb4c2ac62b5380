"""Delivery to departments: reference numbers issued once, the inbox never duplicates, HTTP outcomes."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from onestop.engine.applications import delivery
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.signing import Signer
from onestop.engine.db import Database
from onestop.engine.errors import DecryptionFailed

DATA_KEY = bytes(range(32))
CIPHER = FieldCipher(KeyRing.single(DATA_KEY))
SIGNER = Signer(bytes(range(32, 64)))
ANSWERS = {"name": "CHAN Tai Man", "hkid": "A123456(3)", "phone": "91234567"}


@pytest.fixture
def db(database: Database) -> Database:
    """A fresh SQLite file, then the session's PostgreSQL schema (the ``database`` fixture runs both)."""
    return database


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
    assert await delivery.deliver_to_inbox(db, CIPHER, **args) is True
    assert await delivery.deliver_to_inbox(db, CIPHER, **args) is False
    assert [i.application_id for i in await delivery.inbox(db, CIPHER, "TD")] == ["app-1"]
    assert await delivery.inbox(db, CIPHER, "IMMD") == []


def _signed_submission(application_id: str) -> str:
    return SIGNER.sign_submission(
        application_id=application_id, service_slug="renew-driving-licence", service_hash="h" * 64,
        department="TD", citizen_ref="ref", answers=ANSWERS, consents=[], assurance="urn:onestop:acr:standard",
        auth_time=None, submitted_at=datetime(2026, 11, 27, tzinfo=UTC), reference_number="TD-2026-000001",
    ).jws


async def _deliver(db: Database, cipher: FieldCipher, application_id: str = "app-1") -> str:
    jws = _signed_submission(application_id)
    await delivery.deliver_to_inbox(db, cipher, application_id=application_id, department="TD",
                                    reference_number=f"TD-{application_id}", service_id="renew-driving-licence",
                                    citizen_ref="ref", jws=jws)
    return jws


async def test_the_inbox_stores_a_submission_encrypted_and_gives_back_the_verifiable_jws(db: Database) -> None:
    jws = await _deliver(db, CIPHER)
    async with db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT jws FROM department_inbox"))).scalar_one()
    payload = base64.urlsafe_b64decode(jws.split(".")[1] + "==").decode()
    assert "CHAN Tai Man" in payload  # what a plain JWS would have exposed
    assert stored.startswith("v1.")
    assert jws.split(".")[1] not in stored
    [item] = await delivery.inbox(db, CIPHER, "TD")
    assert item.jws == jws
    assert SIGNER.verify_submission(item.jws)["answers"] == ANSWERS


async def test_the_inbox_still_reads_submissions_stored_before_a_data_key_rotation(db: Database) -> None:
    jws = await _deliver(db, CIPHER)
    rotated = FieldCipher(KeyRing.single(bytes(range(64, 96)), previous=(DATA_KEY,)))
    assert [i.jws for i in await delivery.inbox(db, rotated, "TD")] == [jws]
    with pytest.raises(DecryptionFailed, match="ONESTOP_DATA_KEY_PREVIOUS"):
        await delivery.inbox(db, FieldCipher(KeyRing.single(bytes(range(64, 96)))), "TD")


async def test_an_inbox_ciphertext_moved_to_another_submission_does_not_decrypt(db: Database) -> None:
    await _deliver(db, CIPHER, "app-1")
    await _deliver(db, CIPHER, "app-2")
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE department_inbox SET jws = (SELECT jws FROM department_inbox "
                                "WHERE application_id = 'app-1') WHERE application_id = 'app-2'"))
    with pytest.raises(DecryptionFailed):
        await delivery.inbox(db, CIPHER, "TD")


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
