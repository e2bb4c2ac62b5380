"""Process start-up: what an ``api`` or ``worker`` process does with the database before it serves."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from onestop.config import Settings
from onestop.engine.db import Database, ProcessRow
from onestop.engine.processes import ProcessRegistry
from onestop.runtime import _registered


async def test_an_api_starting_beside_one_without_a_public_url_warns_and_records_its_heartbeat(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/shared.db")
    try:
        await database.migrate()
        await ProcessRegistry(database, role="api", public_url=None).join()  # the replica already running
        settings = Settings(public_url="https://onestop.example")
        with caplog.at_level(logging.WARNING, logger="onestop"):
            async with _registered(settings, database, "api"):
                async with database.session() as session:
                    urls = set((await session.scalars(select(ProcessRow.public_url))).all())
                assert urls == {"https://onestop.example", None}
        assert any("ONESTOP_PUBLIC_URL" in record.getMessage() for record in caplog.records)
        async with database.session() as session:
            assert (await session.scalars(select(ProcessRow.public_url))).all() == [None]
    finally:
        await database.close()


async def test_replicas_with_one_public_url_start_without_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/shared.db")
    try:
        await database.migrate()
        await ProcessRegistry(database, role="api", public_url="https://onestop.example").join()
        with caplog.at_level(logging.WARNING, logger="onestop"):
            async with _registered(Settings(public_url="https://onestop.example"), database, "api"):
                pass
        assert not [r for r in caplog.records if "ONESTOP_PUBLIC_URL" in r.getMessage()]
    finally:
        await database.close()
