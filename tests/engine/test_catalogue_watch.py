"""One catalogue reload reaches every process on the database: two engines ("replicas") on one database, a YAML
change and a SIGHUP-equivalent reload on one, and the other serves the new version without a signal of its own."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from postgres import postgres_admin, postgres_database
from running import dev_settings
from sqlalchemy import make_url, text
from temporalio.client import Client

from onestop.catalogue import load_catalogue
from onestop.catalogue.assurance import AssuranceLadder
from onestop.engine.applications.service import ApplicationService
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.catalogue_watch import CatalogueWatch
from onestop.engine.container import Engine, build_engine
from onestop.engine.db import Database
from onestop.graphql.app import create_app

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
SERVICE = Path("services/transport/renew-driving-licence.yaml")
WATCH_SECONDS = 0.2
STATUS = "{ catalogueStatus { version announcedVersion } service(slug: \"renew-driving-licence\") { title } }"



def _retitle(tree: Path, title: str) -> None:
    path = tree / SERVICE
    text = path.read_text()
    path.write_text(text.replace("title: {en: Renew a full driving licence,", f"title: {{en: {title},", 1))


async def _status(engine: Engine) -> dict[str, object]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(engine.settings, engine)),
                                 base_url="http://replica.test") as client:
        response = await client.post("/graphql", json={"query": STATUS})
    data: dict[str, object] = response.json()["data"]
    return data


async def test_a_reload_on_one_replica_reaches_the_other_without_its_own_signal(
        tree: Path, database_url: str, tmp_path: Path) -> None:
    replicas = []
    try:
        for n in (1, 2):
            settings = dev_settings(tree, tmp_path / f"replica-{n}", database_url=database_url,
                                    catalogue_watch_seconds=WATCH_SECONDS)
            replicas.append(await build_engine(settings, migrate=True))
        first, second = replicas
        before = first.catalogue.catalogue.version
        assert second.catalogue.catalogue.version == before

        _retitle(tree, "Renew a driving licence (announced)")
        assert await first.catalogue.reload()  # what `kill -HUP` on the first replica runs
        after = first.catalogue.catalogue.version
        assert after != before

        started = time.monotonic()
        while second.catalogue.catalogue.version != after and time.monotonic() - started < 10:  # noqa: ASYNC110 - the watch sets no event; polling it is the point
            await asyncio.sleep(0.05)
        caught_up = time.monotonic() - started
        # Bounded by the watch interval plus one load of the tree.
        assert caught_up < 5 * WATCH_SECONDS + 3, caught_up
        status = await _status(second)
        assert status["catalogueStatus"] == {"version": after, "announcedVersion": after}
        assert status["service"] == {"title": "Renew a driving licence (announced)"}
    finally:
        for engine in replicas:
            await engine.close()


async def test_a_reload_that_follows_an_announcement_does_not_announce_again(
        tree: Path, database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    await database.migrate()
    try:
        stores = [await CatalogueStore.open(tree) for _ in range(2)]
        followed: list[str] = []

        async def refresh_feeds() -> None:
            followed.append("feeds")

        watches = [CatalogueWatch(database, store, announced_by=f"replica {n}", also=(refresh_feeds,))
                   for n, store in enumerate(stores)]
        for watch in watches:
            await watch.start(0)  # checked by hand below
        _retitle(tree, "Renewed once")
        assert await stores[0].reload()
        announced = await watches[1].read()
        assert announced is not None
        assert announced.announced_by == "replica 0"

        assert await watches[1].check() is True
        assert stores[1].catalogue.version == stores[0].catalogue.version
        assert await watches[1].read() == announced  # no echo: the generation stays where replica 0 left it
        assert await watches[1].check() is False  # and nothing new to do
        assert followed == ["feeds"]  # the follower re-read its feeds once, as a SIGHUP would have
    finally:
        await database.close()


async def test_a_replica_whose_tree_lags_catches_up_when_its_files_change(
        tmp_path: Path, database_url: str) -> None:
    database = Database(database_url)
    await database.migrate()
    trees = [tmp_path / "a", tmp_path / "b"]
    for root in trees:
        shutil.copytree(DEFINITIONS, root)
    try:
        stores = [await CatalogueStore.open(root) for root in trees]
        watches = [CatalogueWatch(database, store) for store in stores]
        for watch in watches:
            await watch.start(0)
        _retitle(trees[0], "Deployed to a first")
        assert await stores[0].reload()

        assert await watches[1].check() is True  # reloaded, but its own tree still gives the old version
        assert stores[1].catalogue.version != stores[0].catalogue.version
        assert await watches[1].check() is False  # its files have not moved: no reload every poll

        _retitle(trees[1], "Deployed to a first")  # the deploy reaches the second replica's copy
        assert await watches[1].check() is True
        assert stores[1].catalogue.version == stores[0].catalogue.version
    finally:
        await database.close()


def test_the_application_service_checks_against_the_ladder_of_the_catalogue_served_now() -> None:
    served = [load_catalogue(DEFINITIONS).assurance]
    service = ApplicationService(cast(Client, None), "q", cast(Database, None), lambda _slug: None,
                                 lambda: served[-1])
    assert service.ladder is served[0]
    served.append(AssuranceLadder(served[0].levels[:1]))  # what a reload swaps in
    assert service.ladder is served[1]


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


async def _caught_up(engine: Engine, version: str, within: float) -> float:
    started = time.monotonic()
    while engine.catalogue.catalogue.version != version and time.monotonic() - started < within:  # noqa: ASYNC110 - the watch sets no event; polling it is the point
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _replicas(tree: Path, database_url: str, tmp_path: Path, watch_seconds: float) -> list[Engine]:
    replicas = []
    for n in (1, 2):
        settings = dev_settings(tree, tmp_path / f"replica-{n}", database_url=database_url,
                                catalogue_watch_seconds=watch_seconds)
        replicas.append(await build_engine(settings, migrate=True))
    return replicas


async def _listening(watch: CatalogueWatch, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while not watch.listening and time.monotonic() < deadline:  # noqa: ASYNC110 - connecting sets no event
        await asyncio.sleep(0.02)
    return watch.listening


async def test_on_postgresql_a_reload_is_notified_at_once_not_at_the_next_poll(
        tree: Path, postgres_url: str, tmp_path: Path) -> None:
    replicas = await _replicas(tree, postgres_url, tmp_path, watch_seconds=60)
    try:
        first, second = replicas
        assert await _listening(second.catalogue_watch)
        _retitle(tree, "Renew a driving licence (notified)")
        assert await first.catalogue.reload()
        after = first.catalogue.catalogue.version
        # A poll would take 60 s; the notification brings it within one load of the tree.
        caught_up = await _caught_up(second, after, within=30)
        assert second.catalogue.catalogue.version == after
        assert caught_up < 10, caught_up
        status = await _status(second)
        assert status["service"] == {"title": "Renew a driving licence (notified)"}
    finally:
        for engine in replicas:
            await engine.close()


async def test_on_postgresql_polling_carries_on_while_the_listener_is_down_and_it_listens_again(
        tree: Path, postgres_url: str, tmp_path: Path) -> None:
    admin = await postgres_admin()
    assert admin is not None
    replicas = await _replicas(tree, postgres_url, tmp_path, watch_seconds=0.5)
    try:
        first, second = replicas
        assert await _listening(second.catalogue_watch)
        database = make_url(postgres_url).database
        async with admin.connect() as conn:  # every LISTENing connection on this database goes away
            await conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :db AND query LIKE 'LISTEN%'"), {"db": database})
        _retitle(tree, "Renew a driving licence (polled)")
        assert await first.catalogue.reload()
        caught_up = await _caught_up(second, first.catalogue.catalogue.version, within=15)
        assert second.catalogue.catalogue.version == first.catalogue.catalogue.version, caught_up
        assert await _listening(second.catalogue_watch)
    finally:
        for engine in replicas:
            await engine.close()
        await admin.dispose()


async def test_on_sqlite_the_watch_polls_without_listening(tree: Path, tmp_path: Path) -> None:
    replicas = await _replicas(tree, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", tmp_path, watch_seconds=0.2)
    try:
        await asyncio.sleep(0.5)
        assert not replicas[1].catalogue_watch.listening
    finally:
        for engine in replicas:
            await engine.close()
