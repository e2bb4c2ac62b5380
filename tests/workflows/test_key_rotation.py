"""Codec key rotation in the running system: applications begun under the old key carry on under the new one."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.config import Settings
from onestop.engine.applications.activities import ApplicationActivities
from onestop.engine.applications.service import ApplicationService
from onestop.engine.crypto.codec import CodecKeyError, EncryptionCodec, key_id
from onestop.engine.db import Database
from onestop.engine.temporal import build_worker, connect_for

from .conftest import answers_applicant, licence_service
from .test_application import ADULT, LADDER

KEY_A = bytes(range(100, 132))
KEY_B = bytes(range(200, 232))


def b64(key: bytes) -> SecretStr:
    return SecretStr(base64.urlsafe_b64encode(key).decode().rstrip("="))


def settings_with(env: WorkflowEnvironment, tmp_path: Path, key: bytes, *previous: bytes) -> Settings:
    return Settings(env="development", data_dir=tmp_path, codec_key=b64(key),
                    codec_key_previous=SecretStr(",".join(b64(k).get_secret_value() for k in previous)) if previous
                    else None,
                    temporal_address=env.client.service_client.config.target_host)


async def first_input_key_id(raw_client: Client, application_id: str) -> str:
    history = await raw_client.get_workflow_handle(application_id).fetch_history()
    payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    return payload.metadata["encryption-key-id"].decode()


@pytest.mark.slow
async def test_application_started_with_the_old_key_continues_after_restart_with_the_new_one(
    temporal_env: WorkflowEnvironment, raw_client: Client, database: Database, activities: ApplicationActivities,
    task_queue: str, tmp_path: Path,
) -> None:
    snapshots = {"renew-licence": licence_service()}.get
    before = await connect_for(settings_with(temporal_env, tmp_path, KEY_A))
    async with build_worker(before, task_queue, activities.all()):
        apps = ApplicationService(before, task_queue, database, snapshots, LADDER)
        view = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
        view = await apps.grant_consent(view.application_id, "citizen-1", "prefill")
    app_id = view.application_id
    assert await first_input_key_id(raw_client, app_id) == key_id(KEY_A)

    # The old history cannot be read with the new key alone: ONESTOP_CODEC_KEY_PREVIOUS is what makes it work.
    started = (await raw_client.get_workflow_handle(app_id).fetch_history()).events[0]
    with pytest.raises(CodecKeyError):
        await EncryptionCodec(KEY_B).decode(started.workflow_execution_started_event_attributes.input.payloads)

    after = await connect_for(settings_with(temporal_env, tmp_path, KEY_B, KEY_A))
    async with build_worker(after, task_queue, activities.all()):
        apps = ApplicationService(after, task_queue, database, snapshots, LADDER)
        resumed = await apps.get(app_id, "citizen-1")
        assert resumed.current_step_id == "terms"
        assert resumed.prefilled["hkid"].value == "A123456(3)"
        view = await apps.grant_consent(app_id, "citizen-1", "terms")
        view = await apps.submit_step(app_id, "citizen-1", "applicant", answers_applicant())
        assert view.current_step_id == "details"
        assert view.answers["years"] == 5

    history = await raw_client.get_workflow_handle(app_id).fetch_history()
    kids = {p.metadata["encryption-key-id"].decode()
            for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
            for p in e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads}
    assert key_id(KEY_B) in kids  # what was written after the rotation uses the new key
