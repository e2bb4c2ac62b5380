"""The metrics listeners a process can open: a worker's /metrics, and the Temporal SDK's own exporter."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from onestop.config import Environment, Settings
from onestop.engine import metrics
from onestop.engine.temporal import connect_for
from onestop.runtime import _worker_metrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_worker_serves_the_process_metrics_on_its_metrics_port(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path, metrics_port=port)
    metrics.DELIVERIES.labels("inbox", "delivered").inc(0)
    async with _worker_metrics(settings, listen=True), httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert "onestop_deliveries_total" in response.text
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/metrics")


@pytest.mark.slow
async def test_the_temporal_sdk_exports_its_metrics_at_the_configured_address(
        temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    bind = f"127.0.0.1:{free_port()}"
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path, temporal_metrics_bind=bind,
                        temporal_address=temporal_env.client.service_client.config.target_host)
    client = await connect_for(settings)
    await client.count_workflows()
    async with httpx.AsyncClient() as http:
        for _ in range(50):  # the exporter starts with the runtime; give it a moment
            try:
                text = (await http.get(f"http://{bind}/metrics")).text
            except httpx.ConnectError:
                await asyncio.sleep(0.1)
                continue
            if "temporal_request" in text:
                break
            await asyncio.sleep(0.1)
    assert "temporal_request" in text


@pytest.mark.parametrize("bind", ["9464", "http://0.0.0.0:9464", "host:port"])
def test_a_temporal_metrics_bind_must_be_host_and_port(bind: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ONESTOP_TEMPORAL_METRICS_BIND"):
        Settings(data_dir=tmp_path, temporal_metrics_bind=bind)
