"""GraphQL fixtures: a real engine over a definitions tree, the real Starlette app, real HTTP via httpx."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from graphql_api import (
    EVERY_FIELD_SERVICE,
    Api,
    make_api,
    settings_for,
    write_tree,
)
from running import dev_settings, running_engine
from temporalio.testing import WorkflowEnvironment

from onestop.config import Environment
from onestop.engine.container import Engine, build_engine


@pytest.fixture(scope="session")
def small_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("definitions"))


@pytest.fixture(scope="session")
async def engine(small_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    built = await build_engine(settings_for(small_tree, tmp_path_factory.mktemp("data"), Environment.DEVELOPMENT))
    yield built
    await built.close()


@pytest.fixture(scope="session")
async def api(engine: Engine) -> AsyncIterator[Api]:
    """The development app (GraphiQL and introspection on)."""
    bound = make_api(engine.settings, engine)
    yield bound
    await bound.client.aclose()


@pytest.fixture(scope="session")
async def production_api(engine: Engine) -> AsyncIterator[Api]:
    """The same engine behind the production app (introspection and GraphiQL off)."""
    settings = engine.settings.model_copy(update={"env": Environment.PRODUCTION})
    bound = make_api(settings, engine)
    yield bound
    await bound.client.aclose()


@pytest.fixture
def tree_copy(small_tree: Path, tmp_path: Path) -> Path:
    """A private copy of the small tree a test may break."""
    target = tmp_path / "definitions"
    shutil.copytree(small_tree, target)
    return target


@pytest.fixture
async def private_engine(tree_copy: Path, tmp_path: Path) -> AsyncIterator[Engine]:
    built = await build_engine(settings_for(tree_copy, tmp_path / "data", Environment.DEVELOPMENT))
    yield built
    await built.close()


@pytest.fixture
async def private_api(private_engine: Engine) -> AsyncIterator[Api]:
    bound = make_api(private_engine.settings, private_engine)
    yield bound
    await bound.client.aclose()


@pytest.fixture(scope="session")
async def seed_engine(definitions_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    """The real seed catalogue, dev IdP and test citizens, over a fresh SQLite database."""
    built = await build_engine(settings_for(definitions_dir, tmp_path_factory.mktemp("seed-data"),
                                            Environment.DEVELOPMENT))
    yield built
    await built.close()


@pytest.fixture(scope="session")
async def seed_api(seed_engine: Engine) -> AsyncIterator[Api]:
    bound = make_api(seed_engine.settings, seed_engine)
    yield bound
    await bound.client.aclose()



@pytest.fixture(scope="session")
async def live_engine(temporal_env: WorkflowEnvironment,
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    """The small tree plus the every-field service, with applications on Temporal and a worker."""
    tree = write_tree(tmp_path_factory.mktemp("live-definitions"))
    (tree / "services" / "every-field.yaml").write_text(EVERY_FIELD_SERVICE, encoding="utf-8")
    settings = dev_settings(tree, tmp_path_factory.mktemp("live-data"))
    async with running_engine(temporal_env, settings) as (built, _client):
        yield built


@pytest.fixture(scope="session")
async def live_api(live_engine: Engine) -> AsyncIterator[Api]:
    bound = make_api(live_engine.settings, live_engine)
    yield bound
    await bound.client.aclose()
