"""Going live on PostgreSQL: the approval's reload reaches another replica at once, by LISTEN/NOTIFY (its poll is a
minute away), and the promotion's rows, test runs and events work on PostgreSQL as on SQLite."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from client import Api
from postgres import fresh_database, postgres_admin, postgres_problem
from running import dev_settings, running_engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine, build_engine

from .conftest import approve
from .test_promotion import _approved, _events, _public
from .test_uploads import service_yaml


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    admin = await postgres_admin()
    if admin is None:
        pytest.skip(postgres_problem[0])
    try:
        async with fresh_database(admin) as url:
            yield url
    finally:
        await admin.dispose()


@pytest.fixture(scope="module")
async def running(
    temporal_env: WorkflowEnvironment,
    definitions_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
) -> AsyncIterator[tuple[Engine, Client]]:
    tree = tmp_path_factory.mktemp("live-pg") / "definitions"
    shutil.copytree(definitions_dir, tree, ignore=shutil.ignore_patterns("schema"))
    settings = dev_settings(
        tree, tmp_path_factory.mktemp("promotion-pg"), database_url=postgres_url, catalogue_watch_seconds=60
    )
    async with running_engine(temporal_env, settings) as (built, client):
        yield built, client


async def test_on_postgresql_an_approval_reaches_another_replica_at_once(api: Api) -> None:
    engine = api.engine
    # Another replica, with a definitions tree of its own: the promotion reaches it through the database.
    tree = engine.settings.data_dir.parent / "replica-definitions"
    shutil.copytree(engine.settings.definitions, tree)
    replica = await build_engine(engine.settings.model_copy(update={"definitions": tree}))
    try:
        for _ in range(500):
            if replica.catalogue_watch.listening:
                break
            await asyncio.sleep(0.02)
        assert replica.catalogue_watch.listening
        provider = (await approve(api, "chan-siu-ming", "Harbour Ferries Ltd"))[1]
        slug = "sbx-live-postgres"
        pinned = await _approved(api, provider, slug, service_yaml(slug, provider.namespace))
        public = await _public(api, slug)
        assert public is not None
        assert public["contentHash"] == pinned
        started = time.monotonic()
        while replica.catalogue.catalogue.service(slug) is None and time.monotonic() - started < 30:  # noqa: ASYNC110 - the watch sets no event
            await asyncio.sleep(0.05)
        served = replica.catalogue.catalogue.service(slug)
        assert served is not None
        assert served.content_hash == pinned
        assert time.monotonic() - started < 10  # a poll would take 60 s
        outcomes = [
            e.outcome for e in await _events(engine, f"sandbox-promotion:{provider.provider_id}:{slug}:{pinned[:24]}")
        ]
        assert outcomes == ["requested", "checked", "approved", "live"]
    finally:
        await replica.close()
