"""A running onestop engine for tests: the real engine, the applications service on the session's Temporal
server (with the payload codec, as onestop connects), and a worker on a fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from client import Api
from postgres import database_url_for
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.config import Environment, Settings
from onestop.engine.applications.activities import activities_for
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.container import Engine, build_engine
from onestop.engine.crypto.codec import data_converter
from onestop.engine.sandbox.workers import sandbox_workers
from onestop.engine.temporal import build_worker
from onestop.graphql.app import create_app


def dev_settings(definitions: Path, data_dir: Path, **extra: Any) -> Settings:
    return Settings(env=Environment.DEVELOPMENT, definitions=definitions, data_dir=data_dir,
                    temporal_task_queue=f"q-{uuid.uuid4()}", **extra)


@asynccontextmanager
async def running_engine(temporal: WorkflowEnvironment, settings: Settings,
                         http_timeout: float = 10) -> AsyncIterator[tuple[Engine, Client]]:
    """The engine with applications and a worker; yields it with the codec client it uses."""
    config = temporal.client.config()
    config["data_converter"] = data_converter(settings.key_bytes("codec_key"))
    client = Client(**config)
    engine = await build_engine(settings, client)
    try:
        async with DeliveryClient(timeout=http_timeout) as http:
            worker = build_worker(client, settings.temporal_task_queue,
                                  [*activities_for(engine, http).all(), *engine.security.activities().all(),
                                   *engine.appointments.activities().all(),
                                   *engine.sandbox_activities()])
            # Each sandbox's own task queue, as `onestop worker` polls them (found at start and when provisioned).
            async with worker, sandbox_workers(engine, client, http, poll_seconds=0):
                yield engine, client
    finally:
        await engine.close()


def running_seed(data: str, *, isolated: bool = False, **settings: Any) -> tuple[Any, Any, Any]:
    """Module-scoped fixtures for a module of its own running engine: ``running`` (the engine over the seed
    catalogue, with applications on the session's Temporal server and a worker, and its codec client), ``engine``
    and ``api`` (the app over in-process HTTP; ``isolated``: a fresh HTTP client per call). In a module:
    ``running, engine, api = running_seed("apps-data")``; a module's own ``running`` replaces the first."""

    @pytest.fixture(scope="module")
    async def running(temporal_env: WorkflowEnvironment, definitions_dir: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Engine, Client]]:
        async with running_engine(temporal_env, dev_settings(definitions_dir, tmp_path_factory.mktemp(data),
                                                             **settings)) as pair:
            yield pair

    @pytest.fixture(scope="module")
    def engine(running: tuple[Engine, Client]) -> Engine:
        return running[0]

    @pytest.fixture(scope="module")
    async def api(engine: Engine) -> AsyncIterator[Api]:
        app = create_app(engine.settings, engine)
        if isolated:
            yield Api.isolated(app, engine)
            return
        bound = Api.in_process(app, engine)
        yield bound
        await bound.client.aclose()

    return running, engine, api


@asynccontextmanager
async def running_on(database: str, temporal: WorkflowEnvironment, definitions: Path,
                     data_dir: Path) -> AsyncIterator[tuple[Engine, Client]]:
    """``running_engine`` in development on ``database`` ("sqlite", or "postgresql": a fresh database, the test
    skipped with the reason when PostgreSQL is not reachable)."""
    async with database_url_for(database, data_dir / "onestop.db") as url, \
            running_engine(temporal, dev_settings(definitions, data_dir, database_url=url)) as pair:
        yield pair
