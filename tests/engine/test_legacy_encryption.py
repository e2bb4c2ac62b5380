"""Rows written before a column was encrypted: `onestop migrate` encrypts them in place, once, and they stay
readable and verifiable. Real SQLite and PostgreSQL databases, the real CLI."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from onestop.cli import main
from onestop.engine.applications import delivery
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.signing import Signer
from onestop.engine.db import Database, InboxRow
from onestop.engine.legacy import encrypt_clear_rows, is_compact_jws

DATA_KEY = bytes(range(32))
CIPHER = FieldCipher(KeyRing.single(DATA_KEY))
SIGNER = Signer(bytes(range(32, 64)))
ANSWERS = {"name": "CHAN Tai Man", "hkid": "A123456(3)", "phone": "91234567"}
KEY_ENV = {"ONESTOP_DATA_KEY": base64.urlsafe_b64encode(DATA_KEY).decode().rstrip("=")}


async def migrate(database_url: str, tmp_path: Path, env: dict[str, str | None]) -> Result:
    """`onestop migrate` as an operator runs it (in a thread: the command runs its own event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["migrate", "--database-url", database_url, "--data-dir", str(tmp_path)],
        env={"ONESTOP_ENV": "production", **env})


def signed(application_id: str) -> str:
    return SIGNER.sign_submission(
        application_id=application_id, service_slug="renew-driving-licence", service_hash="h", department="TD",
        citizen_ref="ref-1", answers=ANSWERS, consents=[], assurance="standard", auth_time=None,
        submitted_at=datetime(2026, 1, 2, tzinfo=UTC), reference_number=f"TD-2026-{application_id[-6:]}").jws


async def plant_clear_row(database_url: str, application_id: str) -> str:
    """An inbox row as written before the inbox was encrypted: the signed submission in clear."""
    jws = signed(application_id)
    database = Database(database_url)
    try:
        async with database.session() as session:
            session.add(InboxRow(application_id=application_id, department="TD",
                                 reference_number=f"TD-2026-{application_id[-6:]}", service_id="renew-driving-licence",
                                 citizen_ref="ref-1", jws=jws))
    finally:
        await database.close()
    return jws


async def stored(database_url: str) -> dict[str, str]:
    database = Database(database_url)
    try:
        async with database.session() as session:
            rows = await session.execute(select(InboxRow.application_id, InboxRow.jws))
            return {application_id: jws for application_id, jws in rows}
    finally:
        await database.close()


async def test_onestop_migrate_encrypts_a_clear_legacy_inbox_row_which_stays_verifiable(
        database_url: str, tmp_path: Path) -> None:
    first = await migrate(database_url, tmp_path, KEY_ENV)
    assert first.exit_code == 0, first.output
    clear = await plant_clear_row(database_url, "app-legacy-000001")
    assert "CHAN Tai Man" in base64.urlsafe_b64decode(clear.split(".")[1] + "==").decode()  # readable by anyone
    database = Database(database_url)
    try:
        await delivery.deliver_to_inbox(database, CIPHER, application_id="app-new-000002", department="TD",
                                        reference_number="TD-2026-000002", service_id="renew-driving-licence",
                                        citizen_ref="ref-1", jws=signed("app-new-000002"))
    finally:
        await database.close()
    before = await stored(database_url)

    result = await migrate(database_url, tmp_path, KEY_ENV)
    assert result.exit_code == 0, result.output
    assert "encrypted 1 clear legacy value(s) of department_inbox.jws" in result.output
    after = await stored(database_url)
    assert after["app-legacy-000001"].startswith("v1.")
    assert "eyJ" not in after["app-legacy-000001"]
    assert after["app-new-000002"] == before["app-new-000002"]  # already ciphertext: untouched

    database = Database(database_url)
    try:
        items = {item.application_id: item for item in await delivery.inbox(database, CIPHER, "TD")}
    finally:
        await database.close()
    assert items["app-legacy-000001"].jws == clear  # the submission as signed, byte for byte
    assert SIGNER.verify_submission(items["app-legacy-000001"].jws)["answers"] == ANSWERS

    again = await migrate(database_url, tmp_path, KEY_ENV)
    assert again.exit_code == 0, again.output
    assert "encrypted" not in again.output
    assert await stored(database_url) == after  # idempotent: nothing encrypted twice


async def test_without_clear_rows_migrate_needs_no_data_key_and_with_one_it_names_the_key(
        database_url: str, tmp_path: Path) -> None:
    no_key: dict[str, str | None] = {"ONESTOP_DATA_KEY": None}
    assert (await migrate(database_url, tmp_path, no_key)).exit_code == 0
    await plant_clear_row(database_url, "app-legacy-000003")
    refused = await migrate(database_url, tmp_path, no_key)
    assert refused.exit_code == 1
    assert "ONESTOP_DATA_KEY is required" in refused.output
    assert (await stored(database_url))["app-legacy-000003"].startswith("eyJ")  # left for the run with the key


async def test_concurrent_migrations_encrypt_a_row_once(database: Database) -> None:
    jws = signed("app-race-000004")
    async with database.session() as session:
        session.add(InboxRow(application_id="app-race-000004", department="TD", reference_number="TD-2026-000004",
                             service_id="s", citizen_ref="ref-1", jws=jws))
    counts = await asyncio.gather(*(encrypt_clear_rows(database, lambda: CIPHER) for _ in range(4)))
    assert sum(c["department_inbox.jws"] for c in counts) == 1
    [item] = [i for i in await delivery.inbox(database, CIPHER, "TD") if i.application_id == "app-race-000004"]
    assert item.jws == jws


async def test_a_value_that_is_neither_ciphertext_nor_a_jws_is_left_and_logged(
        database: Database, caplog: pytest.LogCaptureFixture) -> None:
    async with database.session() as session:
        session.add(InboxRow(application_id="app-odd-000005", department="TD", reference_number="TD-2026-000005",
                             service_id="s", citizen_ref="ref-1", jws="not a jws"))
    caplog.set_level(logging.WARNING)
    assert (await encrypt_clear_rows(database, lambda: CIPHER))["department_inbox.jws"] == 0
    assert "neither ciphertext nor a clear value" in caplog.text
    async with database.session() as session:
        row = await session.get(InboxRow, "app-odd-000005")
    assert row is not None
    assert row.jws == "not a jws"


@pytest.mark.parametrize(("value", "clear"), [
    (signed("app-x-000006"), True),
    (CIPHER.encrypt(b"x", "department_inbox.jws|a"), False),
    ("a.b.c", False),
    ("", False),
])
def test_a_clear_jws_is_told_from_ciphertext(value: str, clear: bool) -> None:
    assert is_compact_jws(value) is clear
