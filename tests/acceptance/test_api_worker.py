"""Issue 4: `onestop worker` and `onestop api` run as separate processes against any Temporal address and
database URL; an application started through the API process is worked by the worker process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from client import Api
from temporalio.testing import WorkflowEnvironment

from .answers import drive
from .conftest import DECIDE, INBOX, ONESTOP, free_port

pytestmark = pytest.mark.slow

def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(ONESTOP), *args], stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                env=env)


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            pytest.fail(f"process exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    pytest.fail(f"{text!r} not printed within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def test_an_api_refuses_a_database_that_was_not_migrated_until_onestop_migrate_runs(
        temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    env = {**os.environ,
           "ONESTOP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
           "ONESTOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
           "ONESTOP_DATA_DIR": str(tmp_path),
           "ONESTOP_ENV": "development",
           "ONESTOP_TEMPORAL_TASK_QUEUE": f"fresh-{uuid.uuid4()}"}
    refused = subprocess.run([str(ONESTOP), "api", "--port", "0"], env=env, capture_output=True, text=True,  # noqa: S603
                             timeout=60, check=False)
    assert refused.returncode == 2, refused.stderr
    assert "run `onestop migrate`" in refused.stderr
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []

    migrated = subprocess.run([str(ONESTOP), "migrate"], env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=60, check=False)
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "api.log"
    api = _spawn(["api", "--port", str(free_port())], env, log)
    try:
        _wait_for(log, "GraphQL API", api)
    finally:
        assert _stop(api) in (0, -signal.SIGTERM), log.read_text(errors="replace")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def split(request: pytest.FixtureRequest, temporal: WorkflowEnvironment,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("split")
    port = free_port()
    database_url = (f"sqlite+aiosqlite:///{data_dir / 'shared.db'}" if request.param == "sqlite"
                    else request.getfixturevalue("postgres_url"))
    env = {**os.environ,
           "ONESTOP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
           "ONESTOP_DATABASE_URL": database_url,
           "ONESTOP_DATA_DIR": str(data_dir),
           "ONESTOP_ENV": "development",
           "ONESTOP_TEMPORAL_TASK_QUEUE": f"split-{uuid.uuid4()}"}
    worker_log, api_log = data_dir / "worker.log", data_dir / "api.log"
    subprocess.run([str(ONESTOP), "migrate"], env=env, check=True, capture_output=True, timeout=60)  # noqa: S603
    worker = _spawn(["worker"], env, worker_log)
    processes = [worker]
    try:
        _wait_for(worker_log, "Worker", worker)
        api = _spawn(["api", "--port", str(port)], env, api_log)
        processes.append(api)
        _wait_for(api_log, "GraphQL API", api)
        yield f"http://127.0.0.1:{port}", data_dir
    finally:
        codes = [_stop(p) for p in reversed(processes)]
    assert all(code in (0, -signal.SIGTERM) for code in codes), (
        codes, worker_log.read_text(errors="replace"), api_log.read_text(errors="replace"))


@pytest.fixture(scope="module")
async def api(split: tuple[str, Path]) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=split[0], timeout=60) as client:
        yield Api(client)


async def test_an_application_through_the_api_process_is_worked_by_the_worker_process(api: Api) -> None:
    run = await drive(api, "renew-driving-licence", "wong-ka-fai", datetime.now(UTC).date())
    assert run.application["status"] == "SUBMITTED"
    assert run.application["referenceNumber"]
    # the worker delivered into the shared database; the API process's inbox reads it
    officer = await api.token({"staff": "td-officer"})
    for _ in range(100):
        inbox = (await api.data(INBOX, {}, officer))["departmentInbox"]["edges"]
        if run.application["id"] in [e["node"]["id"] for e in inbox]:
            break
        await asyncio.sleep(0.1)
    assert run.application["id"] in [e["node"]["id"] for e in inbox]
    supervisor = await api.token({"staff": "td-supervisor"})  # only an approver decides
    decided = (await api.data(DECIDE, {"id": run.application["id"], "status": "APPROVED"}, supervisor)
               )["updateApplicationStatus"]
    assert decided["application"]["status"] == "APPROVED"
