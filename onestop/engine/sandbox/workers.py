"""Each sandbox's own Temporal task queue, and the workers that poll them.

A sandbox's applications run on ``sandbox-<provider id>``, never on the live queue: a live worker never runs a
sandbox application's workflow or activities, and a sandbox's worker has only the sandbox's activities (its prefill
reads synthetic records, see ``records.py``). Every worker process (``onestop worker``, and ``onestop serve``)
polls the queue of every provisioned sandbox: it finds them at start, at once when it provisions one itself, and
by polling the database for those another process provisioned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.worker import Worker

from onestop.engine.applications.activities import activities_for, gateway_prefill
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.db import Database
from onestop.engine.sandbox.provisioning import sandbox_rows
from onestop.engine.sandbox.queues import sandbox_task_queue
from onestop.engine.sandbox.records import SandboxRecords, sandbox_gateway
from onestop.engine.temporal import build_worker

if TYPE_CHECKING:
    from onestop.engine.container import Engine

log = logging.getLogger(__name__)

MakeWorker = Callable[[str], Worker]
"""A worker on the task queue of the sandbox with this provider id."""


class SandboxWorkers:
    """One worker per provisioned sandbox, on that sandbox's task queue, for as long as this process runs."""

    def __init__(self, database: Database, make: MakeWorker, *, poll_seconds: float = 10.0) -> None:
        self.database = database
        self._make = make
        self.poll_seconds = poll_seconds
        self._workers: dict[str, tuple[Worker, asyncio.Task[None]]] = {}
        self._poller: asyncio.Task[None] | None = None

    @property
    def queues(self) -> list[str]:
        return sorted(sandbox_task_queue(provider_id) for provider_id in self._workers)

    async def start(self) -> None:
        """Poll every sandbox provisioned so far, then keep looking for new ones."""
        await self.discover()
        if self.poll_seconds > 0:
            self._poller = asyncio.create_task(self._poll())

    async def discover(self) -> list[str]:
        """Start a worker for each provisioned sandbox not polled yet; the provider ids started."""
        started = [row.provider_id for row in await sandbox_rows(self.database) if self.ensure(row.provider_id)]
        if started:
            log.info("polling %d more sandbox task queue(s)", len(started))
        return started

    def ensure(self, provider_id: str) -> bool:
        """Poll sandbox ``provider_id``'s queue (once); True when this started its worker."""
        if provider_id in self._workers:
            return False
        worker = self._make(provider_id)
        self._workers[provider_id] = (worker, asyncio.create_task(worker.run()))
        return True

    async def provisioned(self, provider_id: str) -> None:
        """The hook provisioning calls in this process: the new sandbox's queue is polled at once."""
        try:
            self.ensure(provider_id)
        except Exception:  # the sandbox is provisioned all the same; the next look in the database starts it
            log.warning("could not start polling a new sandbox's task queue", exc_info=True)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.discover()
            except Exception:  # a database hiccup: look again next time
                log.warning("could not look for new sandboxes", exc_info=True)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        workers = list(self._workers.values())
        self._workers.clear()
        await asyncio.gather(*(worker.shutdown() for worker, _ in workers), return_exceptions=True)
        for _, task in workers:
            with contextlib.suppress(Exception):
                await task

    async def __aenter__(self) -> SandboxWorkers:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def sandbox_workers(
    engine: Engine, client: Client, http: DeliveryClient, *, poll_seconds: float | None = None
) -> SandboxWorkers:
    """The sandbox workers of a worker process over ``engine``, hooked to its provisioning."""
    records = SandboxRecords(engine.database, engine.data.cipher)

    def make(provider_id: str) -> Worker:
        # The live activities, but prefill through the sandbox's own gateway: synthetic records only.
        activities = replace(
            activities_for(engine, http),
            prefill_port=gateway_prefill(sandbox_gateway(engine.data, records, provider_id), engine.catalogue),
        )
        return build_worker(
            client,
            sandbox_task_queue(provider_id),
            [*activities.all(), *engine.appointments.activities().all()],
            sandbox=True,
            identity=f"{client.identity}/{sandbox_task_queue(provider_id)}",
            max_concurrent_workflow_task_polls=2,
            max_concurrent_activity_task_polls=2,
            max_cached_workflows=100,
        )

    workers = SandboxWorkers(
        engine.database,
        make,
        poll_seconds=poll_seconds if poll_seconds is not None else engine.settings.sandbox_worker_poll_seconds,
    )
    if engine.sandbox is not None:
        engine.sandbox.on_provisioned = workers.provisioned
    return workers
