"""Workflow activations on the event loop: results and errors pass through, the running loop is the caller's
again afterwards, and an activation that never yields is interrupted and its workflow task retried."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from onestop.engine import activations
from onestop.engine.activations import ActivationOverran, InlineActivations


@pytest.fixture
def short_limit() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(activations, "ACTIVATION_LIMIT", 0.3)
        yield


async def test_an_activation_runs_in_the_calling_thread_and_the_loop_is_restored() -> None:
    loop = asyncio.get_running_loop()
    executor = InlineActivations()

    def activation(value: int) -> tuple[int, int]:
        asyncio.events._set_running_loop(None)  # as a workflow instance sets itself, then clears, while it runs
        return value * 2, threading.get_ident()

    assert await loop.run_in_executor(executor, activation, 21) == (42, threading.get_ident())
    assert asyncio.get_running_loop() is loop

    def broken() -> None:
        raise ValueError("workflow code failed")

    with pytest.raises(ValueError, match="workflow code failed"):
        await loop.run_in_executor(executor, broken)
    assert asyncio.get_running_loop() is loop


async def test_the_loop_gets_the_activation_done_without_a_wake_up_from_another_thread() -> None:
    # A concurrent.futures.Future would be chained to a loop future through call_soon_threadsafe (the loop's
    # self-pipe), done only once the loop has come round to it.
    loop = asyncio.get_running_loop()
    executor = InlineActivations()
    done = loop.run_in_executor(executor, lambda: 42)
    assert done.done()
    assert await done == 42
    failed = loop.run_in_executor(executor, lambda: [].pop())
    assert failed.done()
    with pytest.raises(IndexError):
        await failed

    def stops() -> None:
        raise StopIteration("out of steps")

    with pytest.raises(RuntimeError, match="StopIteration: out of steps"):
        await loop.run_in_executor(executor, stops)
    # Off any event loop, an ordinary concurrent future, as an executor gives.
    off_loop = await asyncio.to_thread(executor.submit, lambda: 7)
    assert isinstance(off_loop, concurrent.futures.Future)
    assert off_loop.result(timeout=1) == 7


@pytest.mark.usefixtures("short_limit")
async def test_an_activation_that_never_yields_is_interrupted_and_the_next_one_runs() -> None:
    loop = asyncio.get_running_loop()
    executor = InlineActivations()

    def spin() -> None:
        while True:
            time.sleep(0.01)

    began = time.monotonic()
    with pytest.raises(ActivationOverran):
        await loop.run_in_executor(executor, spin)
    assert time.monotonic() - began < 5
    assert asyncio.get_running_loop() is loop
    assert await loop.run_in_executor(executor, lambda: "after") == "after"
    await asyncio.sleep(1.2)  # nothing is left pending for this thread: the watchdog never fires after the end
    assert await loop.run_in_executor(executor, sum, [1, 2]) == 3


_SPUN: set[str] = set()


@workflow.defn(name="SpinsOnceWorkflow")
class SpinsOnceWorkflow:
    """Never yields in its first activation (on purpose, for this test only), then completes."""

    @workflow.run
    async def run(self) -> str:
        if workflow.info().workflow_id not in _SPUN:
            _SPUN.add(workflow.info().workflow_id)
            while True:
                pass
        return "done"


@pytest.mark.usefixtures("short_limit")
async def test_a_workflow_task_that_never_yields_fails_and_is_retried(temporal_env: WorkflowEnvironment) -> None:
    queue = f"activations-{uuid.uuid4().hex}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[SpinsOnceWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        workflow_task_executor=InlineActivations(),
    ):
        result = await temporal_env.client.execute_workflow(
            SpinsOnceWorkflow.run,
            id=f"spin-{uuid.uuid4().hex}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert result == "done"
