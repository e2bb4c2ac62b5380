"""``onestop serve`` as an operator runs it: one command, every URL printed, clean stop, state that survives."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

START = """mutation($cmid: String) { startApplication(input: {serviceSlug: "renew-driving-licence",
  clientMutationId: $cmid}) { application { id status currentStep { id } } userErrors { code } } }"""
GET = "query($id: ID!) { application(id: $id) { status currentStep { id } } }"


def serve(data_dir: Path, definitions: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "ONESTOP_TEMPORAL_UI_PORT": "0"}
    process = subprocess.Popen(  # noqa: S603 - the project's own CLI
        [sys.executable, "-m", "onestop.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
         "--definitions", str(definitions)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True,
    )
    urls: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while "Health" not in urls and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        name, _, value = line.partition("  ")
        urls[name.strip()] = value.strip()
    assert "GraphQL API" in urls, urls
    return process, urls


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()
    return code


def temporal_children(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout  # noqa: S607
    return [line for line in out.splitlines() if "start-dev" in line and str(data_dir) in line]


@pytest.mark.slow
def test_serve_runs_everything_and_a_draft_and_its_timer_survive_a_restart(
    tmp_path: Path, definitions_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    # A copy of the seed whose drafts expire in 40 s, so the expiry timer must fire after the restart. (At 25 s a
    # loaded machine took longer than that to stop and start again, and the draft had expired before the check.)
    definitions = tmp_path / "definitions"
    shutil.copytree(definitions_dir, definitions)
    service = definitions / "services" / "transport" / "renew-driving-licence.yaml"
    service.write_text(service.read_text(encoding="utf-8").replace("draftExpiry: P30D", "draftExpiry: PT40S"),
                       encoding="utf-8")
    process, urls = serve(data_dir, definitions)
    try:
        assert re.match(r"http://127\.0\.0\.1:\d+$", urls["Temporal UI"])
        # uvloop is a runtime dependency on Linux; ONESTOP_EVENT_LOOP's default (auto) picks it up
        assert urls["Event loop"] == "uvloop"
        api = urls["GraphQL API"]
        base = api.removesuffix("/graphql")
        token = httpx.post(f"{base}/dev-idp/token", json={"citizen": "wong-ka-fai",
                                                          "acr": "urn:onestop:acr:standard"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        started = httpx.post(api, json={"query": START, "variables": {"cmid": "restart-test"}}, headers=headers,
                             timeout=30).json()
        assert started.get("data"), started
        app = started["data"]["startApplication"]["application"]
        assert app["status"] == "DRAFT"
    finally:
        assert stop(process) == 0
    assert temporal_children(data_dir) == []
    assert (data_dir / "temporal.db").exists()

    process, urls = serve(data_dir, definitions)
    try:
        api = urls["GraphQL API"]
        base = api.removesuffix("/graphql")
        token = httpx.post(f"{base}/dev-idp/token", json={"citizen": "wong-ka-fai",
                                                          "acr": "urn:onestop:acr:standard"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        again = httpx.post(api, json={"query": GET, "variables": {"id": app["id"]}}, headers=headers,
                           timeout=30).json()
        assert again["data"]["application"] == {"status": "DRAFT", "currentStep": {"id": "your-details"}}
        deadline = time.monotonic() + 75
        status = "DRAFT"
        while status == "DRAFT" and time.monotonic() < deadline:
            time.sleep(1)
            status = httpx.post(api, json={"query": GET, "variables": {"id": app["id"]}}, headers=headers,
                                timeout=30).json()["data"]["application"]["status"]
        assert status == "EXPIRED"
    finally:
        assert stop(process) == 0


@pytest.mark.slow
def test_api_and_worker_run_as_separate_processes_against_one_temporal(tmp_path: Path, definitions_dir: Path) -> None:
    from temporalio.testing import WorkflowEnvironment

    from onestop.engine.temporal import SEARCH_ATTRIBUTES, temporal_binary

    async def start_server() -> WorkflowEnvironment:
        return await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_binary()),
                                                     search_attributes=SEARCH_ATTRIBUTES,
                                                     dev_server_log_level="error")

    import asyncio

    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(start_server())
    address = env.client.service_client.config.target_host
    common = ["--data-dir", str(tmp_path / "data"), "--definitions", str(definitions_dir), "--env", "development",
              "--temporal-address", address]
    processes: list[subprocess.Popen[str]] = []
    try:
        subprocess.run([sys.executable, "-m", "onestop.cli", "migrate", "--data-dir", str(tmp_path / "data")],  # noqa: S603
                       check=True, capture_output=True, timeout=60)
        worker = subprocess.Popen([sys.executable, "-m", "onestop.cli", "worker", *common],  # noqa: S603
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        processes.append(worker)
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("Worker")
        api = subprocess.Popen([sys.executable, "-m", "onestop.cli", "api", "--port", "0", *common],  # noqa: S603
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        processes.append(api)
        assert api.stdout is not None
        url = api.stdout.readline().split()[-1]
        assert url.endswith("/graphql")
        base = url.removesuffix("/graphql")
        token = httpx.post(f"{base}/dev-idp/token", json={"citizen": "wong-ka-fai",
                                                          "acr": "urn:onestop:acr:standard"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        started = httpx.post(url, json={"query": START, "variables": {"cmid": "split"}}, headers=headers,
                             timeout=30).json()
        assert started["data"]["startApplication"]["application"]["currentStep"] == {"id": "your-details"}
    finally:
        for process in processes:
            assert stop(process) == 0
        loop.run_until_complete(env.shutdown())
        loop.close()
