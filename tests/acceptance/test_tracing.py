"""Traces: one application journey yields one connected trace per citizen action, from the HTTP request through
GraphQL and the Temporal client into the workflow and its activities and their SQL; off, nothing is traced."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from client import STANDARD, Api
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from running import dev_settings
from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.testing import WorkflowEnvironment

from onestop.engine import tracing
from onestop.engine.applications.activities import activities_for
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.container import build_engine
from onestop.engine.crypto.codec import data_converter
from onestop.engine.temporal import build_worker
from onestop.graphql.app import create_app

from .conftest import GRANT, START

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.install(provider)  # this process's components built from here on trace into `spans`
    try:
        yield spans
    finally:
        tracing.install(None)
        provider.shutdown()


@pytest.fixture(scope="module")
async def traced(exporter: InMemorySpanExporter, temporal: WorkflowEnvironment, definitions_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    settings = dev_settings(definitions_dir, tmp_path_factory.mktemp("tracing-data"))
    config = temporal.client.config()
    config["data_converter"] = data_converter(settings.key_bytes("codec_key"))
    config["interceptors"] = tracing.temporal_interceptors()  # as connect_for does
    config["header_codec_behavior"] = HeaderCodecBehavior.CODEC
    client = Client(**config)
    engine = await build_engine(settings, client)
    try:
        async with DeliveryClient(tracer_provider=tracing.provider()) as http:
            worker = build_worker(client, settings.temporal_task_queue, activities_for(engine, http).all())
            async with worker, httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings, engine)),
                                                 base_url="http://onestop.test", timeout=60) as asgi:
                yield Api(asgi)
    finally:
        await engine.close()


def _trace_of(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    root = next(s for s in spans if s.name == name)
    assert root.context is not None
    return [s for s in spans if s.context is not None and s.context.trace_id == root.context.trace_id]


def _ancestry(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_an_application_is_one_trace_from_the_starting_request_to_its_activities_and_sql(
        traced: Api, exporter: InMemorySpanExporter) -> None:
    headers = await traced.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    exporter.clear()
    started = (await traced.data(START, {"slug": "renew-driving-licence", "cmid": uuid.uuid4().hex},
                                 headers))["startApplication"]
    granted = (await traced.data(GRANT, {"id": started["application"]["id"], "step": "your-details"},
                                 headers))["grantConsent"]
    assert granted["userErrors"] == []
    finished = exporter.get_finished_spans()

    # Temporal's model: a workflow's spans, its update handlers' and their activities' live in the trace of the
    # request that started it, so the whole application reads as one trace.
    journey = _trace_of(finished, "GraphQL mutation startApplication")
    names = {s.name for s in journey}
    assert {"POST /graphql", "GraphQL Resolving: startApplication", "HandleUpdate:grantConsent",
            "RunActivity:onestop.prefill"} <= names
    assert any(n.startswith("StartUpdateWithStartWorkflow:") for n in names)
    prefill = next(s for s in journey if s.name == "RunActivity:onestop.prefill")
    chain = _ancestry(prefill, journey)
    assert chain[-1] == "POST /graphql", chain
    assert "GraphQL mutation startApplication" in chain
    assert any(n.startswith(("StartActivity:", "StartUpdateWithStartWorkflow:")) for n in chain)
    sql = [s for s in journey if s.name.startswith("SQL ")]
    assert any("RunActivity:onestop.prefill" in _ancestry(s, journey) for s in sql), "the gateway's SQL"

    # The later action's own trace (its HTTP request to the update call) is linked from the handler's span.
    action = _trace_of(finished, "GraphQL mutation grantConsent")
    update_call = next(s for s in action if s.name == "StartWorkflowUpdate:grantConsent")
    assert "POST /graphql" in _ancestry(update_call, action)
    handler = next(s for s in journey if s.name == "HandleUpdate:grantConsent")
    assert update_call.context is not None
    assert [link.context.span_id for link in handler.links] == [update_call.context.span_id]

    # nothing the citizen typed or owns is in a span: no query text, no resolver arguments
    for span in finished:
        for key, attribute in (span.attributes or {}).items():
            assert not key.startswith("graphql.param"), key
            assert key != "query"
            assert "K305518" not in str(attribute)


def test_without_an_otlp_endpoint_nothing_is_traced_or_exported(repo_root: Path, tmp_path: Path) -> None:
    # A fresh process, as `onestop api` starts: the module-wide OpenTelemetry state of this one is not touched.
    script = textwrap.dedent("""
        import asyncio, sys
        import httpx
        from opentelemetry import trace
        from onestop.config import Environment, Settings
        from onestop.engine import build_engine, tracing
        from onestop.graphql.app import create_app

        async def main():
            settings = Settings(env=Environment.DEVELOPMENT, data_dir=sys.argv[1])
            assert tracing.configure(settings, "onestop-api") is False
            engine = await build_engine(settings)
            app = create_app(settings, engine)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post("/graphql", json={"query": "{ themes { id } }"})
                assert response.status_code == 200, response.text
            await engine.close()
            assert tracing.provider() is None and tracing.temporal_interceptors() == []
            assert not trace.get_current_span().get_span_context().is_valid
            assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider", trace.get_tracer_provider()
            loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
                                                                    "opentelemetry.instrumentation")))
            assert loaded == [], loaded
            print("untraced")

        asyncio.run(main())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONESTOP_", "OTEL_"))}
    env["PYTHONPATH"] = str(repo_root)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=repo_root, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("untraced")
