"""Many replicas as one: two `onestop api` and two `onestop worker` processes on one PostgreSQL database and one
Temporal server. A SIGHUP to one API reloads the catalogue of every process. 40 applications run at once over
HTTP while one API and one worker are killed with SIGKILL; every application still ends SUBMITTED once, with its
own reference number and exactly one inbox row.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from onestop.engine.db import Database
from onestop.graphql.relay import from_global_id

from .conftest import GET, START, SUBMIT, free_port
from .test_api_worker import ONESTOP, _spawn, _stop, _wait_for

pytestmark = pytest.mark.slow

APPLICATIONS = 40
# Killed once this many steps have been answered: after some applications moved on, long before all did.
KILL_AFTER_STEPS = 15
ENQUIRY = "facility-availability-enquiry"  # two steps, no prefill: the run measures the platform, not a form
CITIZEN = "wong-ka-fai"
DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
STATUS = "{ catalogueStatus { version announcedVersion } }"


@dataclass
class Replicas:
    apis: list[subprocess.Popen[bytes]]
    workers: list[subprocess.Popen[bytes]]
    urls: list[str]
    database_url: str
    definitions: Path
    logs: list[Path]
    killed: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.append(process)

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)


@pytest.fixture(scope="module")
def replicas(temporal: WorkflowEnvironment, postgres_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    data_dir = tmp_path_factory.mktemp("replicas")
    ports = [free_port(), free_port()]
    definitions = data_dir / "definitions"  # the one tree every replica reads
    shutil.copytree(DEFINITIONS, definitions)
    env = {**os.environ,
           "ONESTOP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
           "ONESTOP_DATABASE_URL": postgres_url,
           "ONESTOP_DEFINITIONS": str(definitions),
           "ONESTOP_CATALOGUE_WATCH_SECONDS": "0.5",
           # One data dir: the development keys every replica must share, as production shares its key settings.
           "ONESTOP_DATA_DIR": str(data_dir),
           "ONESTOP_ENV": "development",
           # The load balancer's URL, the same on every replica, so a token issued through one works on the other.
           "ONESTOP_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
           "ONESTOP_RATE_LIMIT_PER_MINUTE": "0",
           "ONESTOP_TEMPORAL_TASK_QUEUE": f"replicas-{uuid.uuid4()}"}
    subprocess.run([str(ONESTOP), "migrate"], env=env, check=True, capture_output=True, timeout=60)  # noqa: S603
    running: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    workers, apis = [], []
    try:
        # One after another: the first start creates the development keys the others then read.
        for n in range(2):
            log = data_dir / f"worker-{n}.log"
            logs.append(log)
            workers.append(_spawn(["worker"], env, log))
            running.append(workers[-1])
            _wait_for(log, "Worker", workers[-1])
        for n, port in enumerate(ports):
            log = data_dir / f"api-{n}.log"
            logs.append(log)
            apis.append(_spawn(["api", "--port", str(port)], env, log))
            running.append(apis[-1])
            _wait_for(log, "GraphQL API", apis[-1])
        replicas = Replicas(apis, workers, [f"http://127.0.0.1:{port}" for port in ports], postgres_url, definitions,
                            logs)
        yield replicas
    finally:
        codes = {p.pid: _stop(p) for p in reversed(running)}
    survivors = [codes[p.pid] for p in running if p not in replicas.killed]
    assert all(code in (0, -signal.SIGTERM) for code in survivors), (codes, replicas.output())


class Lost(Exception):
    """A request whose answer never came (its API died): what it did is found out by reading again."""


class Citizen:
    """One browser: sends to its own API replica, and to the other once that one stops answering."""

    def __init__(self, http: httpx.AsyncClient, urls: list[str], first: int, headers: dict[str, str],
                 dead: set[str], lost: list[str]) -> None:
        self.http = http
        self.urls = urls[first:] + urls[:first]
        self.headers = headers
        self.dead = dead  # shared by every citizen: a replica that refused a connection is down for all
        self.lost = lost

    async def post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        for url in self.urls:
            if url in self.dead:
                continue
            try:
                response = await self.http.post(f"{url}/graphql", json={"query": query, "variables": variables},
                                                headers=self.headers)
            except httpx.ConnectError:
                self.dead.add(url)  # nothing was sent: the next replica gets the same request
                continue
            except httpx.TransportError as exc:
                self.dead.add(url)
                self.lost.append(url)
                raise Lost(url) from exc
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            assert "errors" not in result, result
            data: dict[str, Any] = result["data"]
            return data
        raise AssertionError("no API replica answers")


def _answers(application: dict[str, Any]) -> dict[str, Any]:
    if application["currentStep"]["type"] == "SUBMIT":
        return {}
    fields = {f["id"]: f for f in application["currentStep"]["fields"]}
    return {"facilityTypes": [fields["facilityTypes"]["options"][0]["value"]],
            "districts": [fields["districts"]["options"][0]["value"]],
            "date": date.fromordinal(date.today().toordinal() + 2).isoformat(), "replyEmail": "a@example.org"}


async def _apply(citizen: Citizen, steps: list[int], step_done: asyncio.Event) -> dict[str, Any]:
    cmid = uuid.uuid4().hex
    while True:
        try:
            # The same clientMutationId gives back the same application: a start whose answer was lost is retried.
            payload = (await citizen.post(START, {"slug": ENQUIRY, "cmid": cmid}))["startApplication"]
            break
        except Lost:
            continue
    assert payload["userErrors"] == [], payload
    application: dict[str, Any] = payload["application"]
    for _ in range(20):
        if application["status"] != "DRAFT":
            return application
        step = application["currentStep"]
        try:
            payload = (await citizen.post(SUBMIT, {"id": application["id"], "step": step["id"],
                                                   "answers": _answers(application)}))["submitStep"]
        except Lost:
            payload = {"userErrors": ["lost"]}
        if payload["userErrors"]:
            # Lost, or answered for a step the application had already left: read where it is now.
            application = (await citizen.post(GET, {"id": application["id"]}))["application"]
            continue
        application = payload["application"]
        steps.append(1)
        if len(steps) >= KILL_AFTER_STEPS:
            step_done.set()
    raise AssertionError(f"still a draft after 20 actions: {application}")


async def _inbox(database_url: str, expected: int, within: float) -> list[tuple[str, str]]:
    database = Database(database_url)
    try:
        deadline = time.monotonic() + within
        while True:
            async with database.session() as session:
                rows = [(r[0], r[1]) for r in await session.execute(
                    text("SELECT application_id, reference_number FROM department_inbox"))]
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.5)
    finally:
        await database.close()


async def _served(http: httpx.AsyncClient, url: str) -> str:
    response = await http.post(f"{url}/graphql", json={"query": STATUS})
    version: str = response.json()["data"]["catalogueStatus"]["version"]
    return version


async def test_a_sighup_to_one_api_reloads_the_catalogue_of_every_api_and_worker(replicas: Replicas) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        before = await _served(http, replicas.urls[0])
        assert await _served(http, replicas.urls[1]) == before
        service = replicas.definitions / "services/transport/renew-driving-licence.yaml"
        service.write_text(service.read_text().replace("title: {en: Renew a full driving licence,",
                                                       "title: {en: Renew a driving licence (reloaded),", 1))
        started = time.monotonic()
        replicas.apis[0].send_signal(signal.SIGHUP)
        served = [before, before]
        while time.monotonic() - started < 15 and (served[0] == before or served[1] != served[0]):
            served = [await _served(http, url) for url in replicas.urls]
            await asyncio.sleep(0.1)
        caught_up = time.monotonic() - started
    assert served[0] != before, replicas.output()
    assert served[1] == served[0], replicas.output()  # the second API had no signal of its own
    worker_logs = [log for log in replicas.logs if log.name.startswith("worker-")]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(  # noqa: ASYNC110 - another process writes the logs
            f"catalogue reloaded: version {served[0]}" in log.read_text(errors="replace") for log in worker_logs):
        await asyncio.sleep(0.2)
    for log in worker_logs:
        assert f"catalogue reloaded: version {served[0]}" in log.read_text(errors="replace"), replicas.output()
    print(f"\nthe other API served the new catalogue {caught_up:.1f}s after the SIGHUP")


async def test_applications_survive_a_killed_api_and_a_killed_worker(replicas: Replicas) -> None:
    started = time.monotonic()
    dead: set[str] = set()
    lost: list[str] = []
    steps: list[int] = []
    step_done = asyncio.Event()
    async with httpx.AsyncClient(timeout=120) as http:
        token = await http.post(f"{replicas.urls[1]}/dev-idp/token", json={"citizen": CITIZEN, "acr": STANDARD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "Accept-Language": "en"}

        async def kill_mid_run() -> tuple[float, int]:
            await step_done.wait()
            replicas.kill(replicas.apis[0])
            replicas.kill(replicas.workers[0])
            return time.monotonic() - started, len(steps)

        killer = asyncio.create_task(kill_mid_run())
        runs = [asyncio.create_task(_apply(Citizen(http, replicas.urls, n % 2, headers, dead, lost), steps, step_done))
                for n in range(APPLICATIONS)]
        applications = await asyncio.wait_for(asyncio.gather(*runs), timeout=150)
        killed_at, steps_before_kill = await asyncio.wait_for(killer, timeout=5)
        # Mid-run: most steps were still to come when the processes died, and the dead API's citizens moved over.
        assert steps_before_kill < 2 * APPLICATIONS - 20, steps_before_kill
        assert replicas.urls[0] in dead

        survivor = Citizen(http, replicas.urls, 1, headers, dead, lost)
        final = [(await survivor.post(GET, {"id": a["id"]}))["application"] for a in applications]

    assert [a["status"] for a in final] == ["SUBMITTED"] * APPLICATIONS, replicas.output()
    for application in final:
        assert [e["status"] for e in application["timeline"]].count("SUBMITTED") == 1, application["timeline"]
    references = [a["referenceNumber"] for a in final]
    assert len(set(references)) == APPLICATIONS
    assert all(r.startswith("LCSD-") for r in references)

    inbox = await _inbox(replicas.database_url, APPLICATIONS, within=60)
    keys = [from_global_id(a["id"]) for a in final]
    assert sorted(inbox) == sorted((key[1], a["referenceNumber"]) for key, a in zip(keys, final, strict=True)
                                   if key is not None), replicas.output()
    assert len(inbox) == APPLICATIONS
    elapsed = time.monotonic() - started
    print(f"\n{APPLICATIONS} applications on 2 APIs + 2 workers; killed one of each at {killed_at:.1f}s after "
          f"{steps_before_kill} of {2 * APPLICATIONS} steps; {len(lost)} answers lost; all submitted and delivered "
          f"in {elapsed:.1f}s")
