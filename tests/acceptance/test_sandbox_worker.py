"""`onestop worker` polls every sandbox's own task queue: the one it provisions at once, and every sandbox already
provisioned when it starts. An application of a sandbox service started through a separate `onestop api` process
is worked by the worker process on the sandbox's queue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD, Api
from sandbox.conftest import START, SUBMIT, join_answers
from sandbox.test_uploads import UPLOAD, b64, service_yaml
from temporalio.testing import WorkflowEnvironment

from onestop.engine.sandbox import ids_for
from onestop.engine.sandbox.queues import sandbox_task_queue
from onestop.graphql.relay import from_global_id

from .conftest import DECIDE, INBOX, free_port
from .test_api_worker import ONESTOP, _spawn, _stop, _wait_for

pytestmark = pytest.mark.slow

SANDBOX_START = """mutation($slug: String!) { startSandboxApplication(input: {serviceSlug: $slug}) {
  application { id status currentStep { id } } userErrors { field code message } } }"""


@pytest.fixture(scope="module")
def processes(temporal: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, dict[str, str], Path]]:
    data_dir = tmp_path_factory.mktemp("sandbox-split")
    port = free_port()
    env = {**os.environ,
           "ONESTOP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
           "ONESTOP_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'shared.db'}",
           "ONESTOP_DATA_DIR": str(data_dir),
           "ONESTOP_ENV": "development",
           "ONESTOP_TEMPORAL_TASK_QUEUE": f"sbx-split-{uuid.uuid4()}"}
    subprocess.run([str(ONESTOP), "migrate"], env=env, check=True, capture_output=True, timeout=60)  # noqa: S603
    worker_log, api_log = data_dir / "worker.log", data_dir / "api.log"
    worker = _spawn(["worker"], env, worker_log)
    running = [worker]
    try:
        _wait_for(worker_log, "Sandbox workers 0 sandbox task queue(s)", worker)
        api = _spawn(["api", "--port", str(port)], env, api_log)
        running.append(api)
        _wait_for(api_log, "GraphQL API", api)
        yield f"http://127.0.0.1:{port}", env, data_dir
    finally:
        for process in reversed(running):
            _stop(process)


async def _join_and_approve(api: Api) -> str:
    """Apply to join as a citizen, have the platform team approve; the application id."""
    headers = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    app: dict[str, Any] = (await api.data(START, {"slug": "join-sandbox-programme"}, headers)
                           )["startApplication"]["application"]
    for step, answers in join_answers("Split Worker Ltd", "https://app.example.com/callback").items():
        app = (await api.data(SUBMIT, {"id": app["id"], "step": step, "answers": answers}, headers)
               )["submitStep"]["application"]
    assert app["status"] == "SUBMITTED", app
    officer = await api.token({"staff": "platform-officer"})
    decided = (await api.data(DECIDE, {"id": app["id"], "status": "APPROVED"}, officer))["updateApplicationStatus"]
    assert decided["userErrors"] == [], decided
    decoded = from_global_id(app["id"])
    assert decoded is not None
    return decoded[1]


async def test_the_worker_process_works_a_sandbox_on_its_own_queue(
        temporal: WorkflowEnvironment, processes: tuple[str, dict[str, str], Path]) -> None:
    base, env, data_dir = processes
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        api = Api(http)
        ids = ids_for(await _join_and_approve(api))
        staff = await api.token({"staff": f"{ids.namespace.lower()}-staff-1"})
        uploaded = (await api.data(UPLOAD, {"filename": "split.yaml", "content": b64(
            service_yaml("sbx-split", ids.namespace))}, staff))["uploadSandboxDefinitions"]
        assert uploaded["problems"] == [], uploaded
        citizen = await api.token({"citizen": f"{ids.namespace.lower()}-adult", "acr": STANDARD})
        app = (await api.data(SANDBOX_START, {"slug": "sbx-split"}, citizen))["startSandboxApplication"]
        assert app["userErrors"] == [], app
        app = app["application"]
        for step, answers in (("car", {"plate": "AB 1234"}), ("send", {})):
            app = (await api.data(SUBMIT, {"id": app["id"], "step": step, "answers": answers}, citizen)
                   )["submitStep"]["application"]
        assert app["status"] == "SUBMITTED"
        inbox: list[str] = []
        for _ in range(100):
            inbox = [e["node"]["id"] for e in (await api.data(INBOX, {}, staff))["departmentInbox"]["edges"]]
            if app["id"] in inbox:
                break
            await asyncio.sleep(0.1)
        assert app["id"] in inbox
    decoded = from_global_id(app["id"])
    assert decoded is not None
    described = await temporal.client.get_workflow_handle(decoded[1]).describe()
    assert described.task_queue == sandbox_task_queue(ids.provider_id)
    # A worker started now finds the sandbox in the database at start.
    log = data_dir / "second-worker.log"
    second = _spawn(["worker"], {**env, "ONESTOP_PORT": str(free_port())}, log)
    try:
        _wait_for(log, "Sandbox workers 1 sandbox task queue(s)", second)
    finally:
        _stop(second)
