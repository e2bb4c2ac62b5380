"""The provisioning workflow's recorded history replays with the current code, so a change to it that would
break a provisioning already running fails here (record with ONESTOP_RECORD_HISTORIES=1; never overwritten)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.codec import data_converter
from onestop.engine.db import Database
from onestop.engine.sandbox import SandboxActivities, SandboxProvisioner
from onestop.engine.temporal import build_worker, workflow_runner
from onestop.workflows.sandbox import (
    AgeGroupSpan,
    ProvisionRequest,
    SandboxProvisioningWorkflow,
    SandboxStaffRequest,
    provisioning_workflow_id,
)

CODEC_KEY = bytes(range(32))
HISTORY = Path(__file__).resolve().parent / "histories" / "sandbox-provisioning.json"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'onestop.db'}")
    await db.migrate()
    yield db
    await db.close()


async def _record(temporal_env: WorkflowEnvironment, database: Database) -> None:
    config = temporal_env.client.config()
    config["data_converter"] = data_converter(CODEC_KEY)
    client = Client(**config)
    queue = f"sandbox-record-{uuid.uuid4()}"
    provisioner = SandboxProvisioner(database, FieldCipher(KeyRing.single(bytes(range(32, 64)))))
    request = ProvisionRequest("app-recorded", "Recorded Ltd", "private", "hong-kong", "Contact", "c@example.com",
                               ["https://app.example.com/cb"], [SandboxStaffRequest("Staff", "s@example.com")],
                               [AgeGroupSpan("adult", 25, 64)])
    async with build_worker(client, queue, SandboxActivities(provisioner).all()):
        handle = await client.start_workflow(SandboxProvisioningWorkflow.run, request,
                                             id=provisioning_workflow_id(f"recorded-{uuid.uuid4()}"),
                                             task_queue=queue)
        await handle.result()
    HISTORY.write_text((await handle.fetch_history()).to_json())


async def test_the_recorded_provisioning_history_replays(temporal_env: WorkflowEnvironment,
                                                         database: Database) -> None:
    if os.environ.get("ONESTOP_RECORD_HISTORIES") and not HISTORY.exists():
        await _record(temporal_env, database)
    assert HISTORY.exists(), "record with ONESTOP_RECORD_HISTORIES=1"
    replayer = Replayer(workflows=[SandboxProvisioningWorkflow], data_converter=data_converter(CODEC_KEY),
                        workflow_runner=workflow_runner())
    await replayer.replay_workflow(WorkflowHistory.from_json(HISTORY.stem, HISTORY.read_text()))
