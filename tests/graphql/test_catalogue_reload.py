"""A running server reloads definitions whole or not at all, and says why a reload failed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from graphql_api import Api

from onestop.engine.container import Engine

STATUS = """
{ catalogueStatus { version loadedAt lastAttemptAt services problems { path line column code message } }
  services(first: 100) { totalCount edges { node { slug title } } } }
"""


async def test_a_broken_tree_keeps_the_previous_catalogue_and_reports_the_problems(
        private_api: Api, private_engine: Engine, tree_copy: Path) -> None:
    before = await private_api.data(STATUS)
    broken = tree_copy / "services" / "transport" / "renew-driving-licence.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("themes: [transport]", "themes: [spaceflight]")
                      + "\tbad: [\n", encoding="utf-8")

    assert await private_engine.catalogue.reload() is False

    after = await private_api.data(STATUS)
    assert after["services"] == before["services"]
    status = after["catalogueStatus"]
    assert status["version"] == before["catalogueStatus"]["version"]
    assert status["loadedAt"] == before["catalogueStatus"]["loadedAt"]
    assert status["lastAttemptAt"] >= before["catalogueStatus"]["lastAttemptAt"]
    assert status["problems"], "the failed reload must say why"
    for problem in status["problems"]:
        assert problem["path"] == "services/transport/renew-driving-licence.yaml"  # relative to the root
        assert problem["line"] >= 1
        assert problem["column"] >= 1
        assert problem["code"]
        assert problem["message"]


async def test_fixing_the_tree_serves_the_new_catalogue_and_clears_the_problems(
        private_api: Api, private_engine: Engine, tree_copy: Path) -> None:
    path = tree_copy / "services" / "transport" / "renew-driving-licence.yaml"
    original = path.read_text(encoding="utf-8")
    old_version = private_engine.catalogue.catalogue.version
    path.write_text("id: [unclosed\n", encoding="utf-8")
    assert await private_engine.catalogue.reload() is False

    path.write_text(original.replace("Renew a full driving licence", "Renew your driving licence"),
                    encoding="utf-8")
    assert await private_engine.catalogue.reload() is True

    data = await private_api.data(STATUS)
    assert data["catalogueStatus"]["problems"] == []
    assert data["catalogueStatus"]["version"] != old_version
    titles = {edge["node"]["slug"]: edge["node"]["title"] for edge in data["services"]["edges"]}
    assert titles["renew-driving-licence"] == "Renew your driving licence"


async def test_a_removed_service_disappears_after_a_good_reload(
        private_api: Api, private_engine: Engine, tree_copy: Path) -> None:
    (tree_copy / "services" / "health" / "youth-health.yaml").unlink()
    assert await private_engine.catalogue.reload() is True
    data = await private_api.data(STATUS)
    assert data["services"]["totalCount"] == 3
    assert (await private_api.data('{ service(slug: "youth-health-check") { slug } }')) == {"service": None}


async def test_polling_picks_up_a_changed_file(private_engine: Engine, tree_copy: Path) -> None:
    store = private_engine.catalogue
    old_version = store.catalogue.version
    store.start_polling(0.05)
    path = tree_copy / "services" / "health" / "elderly-vaccination.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8")
    for _ in range(100):
        await asyncio.sleep(0.05)
        if store.catalogue.version != old_version:
            break
    assert store.catalogue.version != old_version
    service = store.catalogue.service("elderly-vaccination")
    assert service is not None
    assert service.version == 2


async def test_an_unchanged_tree_is_not_reloaded_by_the_poller(private_engine: Engine) -> None:
    assert await private_engine.catalogue.reload_if_changed() is None


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX only")
async def test_sighup_reloads_the_catalogue(private_engine: Engine, tree_copy: Path) -> None:
    store = private_engine.catalogue
    loop = asyncio.get_running_loop()
    assert store.install_sighup(loop) is True
    try:
        path = tree_copy / "services" / "health" / "youth-health.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("version: 1", "version: 7"), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            await asyncio.sleep(0.02)
            service = store.catalogue.service("youth-health-check")
            if service is not None and service.version == 7:
                break
        service = store.catalogue.service("youth-health-check")
        assert service is not None
        assert service.version == 7
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def test_sighup_also_runs_the_extra_reloads(private_engine: Engine) -> None:
    store = private_engine.catalogue
    loop = asyncio.get_running_loop()
    ran = asyncio.Event()

    async def extra() -> None:
        ran.set()

    assert store.install_sighup(loop, extra) is True
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(ran.wait(), timeout=5)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def test_the_first_load_of_a_broken_tree_fails_with_every_problem(tree_copy: Path, tmp_path: Path) -> None:
    from graphql_api import settings_for

    from onestop.catalogue import CatalogueError
    from onestop.config import Environment
    from onestop.engine.container import build_engine

    (tree_copy / "taxonomy.yaml").write_text("themes: [\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as raised:
        await build_engine(settings_for(tree_copy, tmp_path / "data", Environment.DEVELOPMENT))
    assert raised.value.problems
