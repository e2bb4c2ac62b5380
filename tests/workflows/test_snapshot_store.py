"""The engine renders a running application's step from its own pinned snapshot, kept by content hash."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from temporalio.client import Client
from temporalio.worker import Worker

from onestop.engine.applications.service import ApplicationService
from onestop.engine.applications.snapshots import SnapshotStore
from onestop.engine.db import Database
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.workflows.contracts import QUERY_STATE, ApplicationView
from onestop.workflows.interpreter import Applicant
from onestop.workflows.snapshot import ServiceSnapshot

from .conftest import licence_service

LADDER = AssuranceLadder.of([("basic", "urn:onestop:acr:basic"), ("standard", "urn:onestop:acr:standard"),
                             ("face", "urn:onestop:acr:face")])
ADULT = Applicant(age=40, age_group="adult", assurance="standard")


@pytest.fixture
def catalogue() -> dict[str, ServiceSnapshot]:
    return {"renew-licence": licence_service(1)}


def service(client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
            store: SnapshotStore | None = None) -> ApplicationService:
    return ApplicationService(client, task_queue, database, catalogue.get, LADDER, store=store)


async def test_the_workflow_answers_without_the_definition_and_the_engine_adds_it(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    apps = service(client, task_queue, database, catalogue)
    view = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    raw = await client.get_workflow_handle(view.application_id).query(QUERY_STATE, result_type=ApplicationView)
    assert raw.current_step is None
    assert all(entry.title == {} for entry in raw.outline)
    assert view.current_step is not None
    assert view.current_step.id == raw.current_step_id == "prefill"
    assert view.outline[0].title == {"en": "Use your e-ME data", "tc": "Use your e-ME data"}


async def test_a_new_version_does_not_change_a_running_application(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    apps = service(client, task_queue, database, catalogue)
    first = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    catalogue["renew-licence"] = licence_service(2)
    second = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    again = await apps.get(first.application_id, "citizen-1")
    assert again.content_hash == "hash-v1"
    assert second.content_hash == "hash-v2"


async def test_another_replica_without_the_snapshot_asks_the_workflow_once(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    view = await service(client, task_queue, database, catalogue).start("citizen-1", ADULT, "renew-licence",
                                                                        uuid.uuid4().hex)
    async with database.session() as session:  # as if it had been started before snapshots were stored
        await session.execute(text("DELETE FROM service_snapshots"))
    replica = service(client, task_queue, database, {}, store=SnapshotStore(database))
    seen = await replica.get(view.application_id, "citizen-1")
    assert seen.current_step is not None
    assert seen.current_step.id == "prefill"
    async with database.session() as session:
        stored = (await session.execute(text("SELECT content_hash FROM service_snapshots"))).scalars().all()
    assert stored == ["hash-v1"]
