"""The promotion workflow's recorded histories (approved, rejected, checks failed) replay with the current code, so a
change that would break a promotion already waiting for the platform team fails here (record with
ONESTOP_RECORD_HISTORIES=1; never overwritten)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from onestop.engine.crypto.codec import data_converter
from onestop.engine.temporal import build_worker, sandboxed_runner, workflow_runner
from onestop.workflows.promotion import (
    CHECK_PROMOTION,
    PUBLISH_PROMOTION,
    REJECT_PROMOTION,
    CheckResult,
    PromotionCheck,
    PromotionDecision,
    PromotionRequest,
    PromotionState,
    PromotionStatus,
    PublishInput,
    PublishResult,
    RejectInput,
    SandboxPromotionWorkflow,
)

CODEC_KEY = bytes(range(32))
HISTORIES = Path(__file__).resolve().parent.parent / "histories" / "promotion"
SCENARIOS = ("approved", "rejected", "checks-failed")


def _activities(tested: bool) -> list[Callable[..., Awaitable[object]]]:
    """The activities as the engine's answer them (the histories hold only their results)."""

    @activity.defn(name=CHECK_PROMOTION)
    async def check(request: PromotionRequest) -> CheckResult:
        return CheckResult(
            [
                PromotionCheck("validated", True, "version 1 validates"),
                PromotionCheck("tested", tested, "1 test application(s)" if tested else "none"),
                PromotionCheck("fits-live", True, "the live catalogue loads with it"),
            ]
        )

    @activity.defn(name=PUBLISH_PROMOTION)
    async def publish(publish: PublishInput) -> PublishResult:
        return PublishResult("catalogue-version-recorded")

    @activity.defn(name=REJECT_PROMOTION)
    async def reject(rejected: RejectInput) -> None:
        return None

    return [check, publish, reject]


async def _awaiting(handle: WorkflowHandle[SandboxPromotionWorkflow, PromotionState]) -> None:
    for _ in range(200):
        if (await handle.query(SandboxPromotionWorkflow.state)).status != PromotionStatus.CHECKING:
            return
        await asyncio.sleep(0.05)


async def _record(temporal_env: WorkflowEnvironment, scenario: str) -> None:
    config = temporal_env.client.config()
    config["data_converter"] = data_converter(CODEC_KEY)
    client = Client(**config)
    queue = f"promotion-record-{uuid.uuid4()}"
    request = PromotionRequest(
        f"sandbox-promotion:recorded:{scenario}", "prv-recorded", "SBXRECORDED", "recorded-permit", 1, "a" * 64
    )
    async with build_worker(client, queue, _activities(tested=scenario != "checks-failed")):
        handle = await client.start_workflow(
            SandboxPromotionWorkflow.run, request, id=f"{request.promotion_id}:{uuid.uuid4()}", task_queue=queue
        )
        await _awaiting(handle)
        if scenario == "approved":
            await handle.execute_update(
                SandboxPromotionWorkflow.approve, PromotionDecision("platform-sub"), id="approve"
            )
        elif scenario == "rejected":
            await handle.execute_update(
                SandboxPromotionWorkflow.reject, PromotionDecision("platform-sub", "Say who may apply."), id="reject"
            )
        await handle.result()
    HISTORIES.mkdir(parents=True, exist_ok=True)
    (HISTORIES / f"{scenario}.json").write_text((await handle.fetch_history()).to_json())


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_the_recorded_promotion_histories_replay(temporal_env: WorkflowEnvironment, scenario: str) -> None:
    path = HISTORIES / f"{scenario}.json"
    if os.environ.get("ONESTOP_RECORD_HISTORIES") and not path.exists():
        await _record(temporal_env, scenario)
    assert path.exists(), "record with ONESTOP_RECORD_HISTORIES=1"
    for runner in (workflow_runner(), sandboxed_runner()):
        replayer = Replayer(
            workflows=[SandboxPromotionWorkflow], data_converter=data_converter(CODEC_KEY), workflow_runner=runner
        )
        await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
