"""A running onestop engine for tests: the real engine, the applications service on the session's Temporal
server (with the payload codec, as onestop connects), and a worker on a fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.config import Environment, Settings
from onestop.engine.applications.activities import activities_for
from onestop.engine.container import Engine, build_engine
from onestop.engine.crypto.codec import data_converter
from onestop.engine.sandbox.workers import sandbox_workers
from onestop.engine.temporal import build_worker


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
        async with httpx.AsyncClient(timeout=http_timeout) as http:
            worker = build_worker(client, settings.temporal_task_queue,
                                  [*activities_for(engine, http).all(), *engine.security.activities().all(),
                                   *engine.appointments.activities().all(),
                                   *engine.sandbox_activities()])
            # Each sandbox's own task queue, as `onestop worker` polls them (found at start and when provisioned).
            async with worker, sandbox_workers(engine, client, http, poll_seconds=0):
                yield engine, client
    finally:
        await engine.close()
