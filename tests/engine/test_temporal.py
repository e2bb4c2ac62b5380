"""Temporal wiring: missing search attributes are registered on the namespace a process uses; the dev server caches
them as a production server does."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid

import pytest
from temporalio import workflow
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from onestop.engine.applications.service import application_id_for
from onestop.engine.temporal import (
    DEV_SERVER_DYNAMIC_CONFIG,
    SEARCH_ATTRIBUTES,
    WORKFLOW_TASK_POLLS,
    build_worker,
    dev_server_args,
    ensure_search_attributes,
    temporal_binary,
)
from onestop.workflows.contracts import STATUS_ATTRIBUTE


@pytest.mark.slow
async def test_missing_search_attributes_are_registered_once() -> None:
    # The server caches its search attributes as ours runs (DEV_SERVER_DYNAMIC_CONFIG): those just added are
    # accepted only once the cache is refreshed, and ensure_search_attributes waits for that.
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_binary()),
                                                dev_server_log_level="error",
                                                dev_server_extra_args=list(DEV_SERVER_DYNAMIC_CONFIG))
    try:
        await env.client.count_workflows("WorkflowType = 'none'")  # warm caches, as on a running system
        added = await ensure_search_attributes(env.client, "default")
        assert sorted(added) == sorted(key.name for key in SEARCH_ATTRIBUTES)
        await env.client.start_workflow("Nothing", id=f"sa-{uuid.uuid4().hex}", task_queue="nobody",
                                        search_attributes=TypedSearchAttributes(
                                            [SearchAttributePair(key, "x") for key in SEARCH_ATTRIBUTES]))
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default"))
        assert {key.name for key in SEARCH_ATTRIBUTES} <= set(listed.custom_attributes)
        assert await ensure_search_attributes(env.client, "default") == []
    finally:
        await env.shutdown()


def _cluster_metadata_reads(metrics_port: int) -> float:
    """The dev server's own count of cluster-metadata reads from its store (search attributes live there)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("persistence_requests{") and 'operation="GetCurrentClusterMetadata"' in line)


@workflow.defn(name="UpsertsStatus", sandboxed=False)
class UpsertsStatus:
    """Starts with our search attributes and upserts the status, as an application does at submission."""

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([STATUS_ATTRIBUTE.value_set("SUBMITTED")])


@pytest.mark.slow
async def test_dev_server_serves_our_search_attributes_from_its_cache() -> None:
    """``onestop serve``'s dev server validates and indexes an application's search attributes without re-reading
    them from its store each time (a production server's default), and visibility still finds it by them."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        metrics_port = sock.getsockname()[1]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()), dev_server_log_level="error",
        dev_server_extra_args=[*dev_server_args(), "--metrics-port", str(metrics_port)])
    task_queue = f"cache-{uuid.uuid4().hex}"

    async def run_and_find() -> None:
        workflow_id = f"cache-{uuid.uuid4().hex}"
        await env.client.execute_workflow(
            UpsertsStatus.run, id=workflow_id, task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(key, "DRAFT") for key in SEARCH_ATTRIBUTES]))
        query = f'OnestopStatus = "SUBMITTED" AND WorkflowId = "{workflow_id}"'
        for _ in range(100):
            if [w async for w in env.client.list_workflows(query)]:
                await asyncio.sleep(2)  # the server publishes its metrics about every second
                return
            await asyncio.sleep(0.1)
        raise AssertionError("visibility never found the workflow by its search attributes")

    try:
        async with Worker(env.client, task_queue=task_queue, workflows=[UpsertsStatus]):
            await run_and_find()  # the first reads of each part of the server fill its cache
            before = _cluster_metadata_reads(metrics_port)
            await run_and_find()
            # Forced to refresh (the dev server's own default), this one workflow re-reads them 14 times.
            assert _cluster_metadata_reads(metrics_port) == before
    finally:
        await env.shutdown()


def test_application_ids_reveal_neither_the_citizen_nor_the_client_ids() -> None:
    first = application_id_for("ref-chan", "renew-driving-licence", "cmid-1")
    assert first == application_id_for("ref-chan", "renew-driving-licence", "cmid-1")
    assert first != application_id_for("ref-lee", "renew-driving-licence", "cmid-1")
    assert "ref-chan" not in first
    assert "cmid-1" not in first
    assert application_id_for("ref-chan", "s", None) != application_id_for("ref-chan", "s", None)


async def test_workers_poll_the_task_queue_with_half_their_workflow_task_polls(
        temporal_env: WorkflowEnvironment) -> None:
    # A new application's first workflow task comes through the task queue, not the sticky queue: the SDK's
    # default (5 polls, a fifth there) left one poll for a burst of citizens starting together, each start waiting
    # a poll round trip per start ahead of it. Five polls there now, five on the sticky queue.
    config = build_worker(temporal_env.client, f"polls-{uuid.uuid4().hex}", []).config()
    behaviour = config["workflow_task_poller_behavior"]
    assert isinstance(behaviour, PollerBehaviorSimpleMaximum)
    assert behaviour.maximum == WORKFLOW_TASK_POLLS == 10
    assert int(behaviour.maximum * config["nonsticky_to_sticky_poll_ratio"]) == 5
