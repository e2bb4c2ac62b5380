"""OpenTelemetry traces from the HTTP request through GraphQL, Temporal (client, workflow, activities) and SQL to
the department delivery, exported over OTLP/HTTP only when ``ONESTOP_OTLP_ENDPOINT`` is set.

Off by default at no cost: no tracer provider is created, the SDK is never imported, and no span-producing
middleware, extension or interceptor is installed (callers ask ``provider()`` and wire nothing when it is None).
Every component is handed the provider explicitly, so a test can trace one app without touching the process-wide
OpenTelemetry globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onestop.config import Settings

if TYPE_CHECKING:
    from temporalio.client import Interceptor

_provider: trace.TracerProvider | None = None

# The context a statement's span lives in, from before to after cursor execution.
_SPAN = "onestop.sql_span"


def provider() -> trace.TracerProvider | None:
    """The tracer provider of this process, or None when tracing is off."""
    return _provider


def install(tracer_provider: trace.TracerProvider | None) -> None:
    """Trace with ``tracer_provider`` from now on (None: stop wiring tracing into new components)."""
    global _provider
    _provider = tracer_provider


def configure(settings: Settings, service: str) -> bool:
    """Export spans to ``ONESTOP_OTLP_ENDPOINT`` as ``service`` (``onestop-api``, ``onestop-worker``); False when
    the setting is absent, and then nothing is created."""
    if not settings.otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otlp_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"  # the OTLP/HTTP traces path under a collector's base URL
    sdk = TracerProvider(resource=Resource.create({"service.name": service}))
    sdk.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(sdk)  # also for libraries that only know the global provider
    install(sdk)
    return True


def shutdown() -> None:
    """Flush the spans still batched (at process exit)."""
    shut = getattr(_provider, "shutdown", None)
    if callable(shut):
        shut()


def temporal_interceptors() -> list[Interceptor]:
    """The Temporal client interceptors for tracing (a worker built on the client inherits them)."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("onestop.temporal"))]


def instrument_database(engine: AsyncEngine) -> None:
    """A span per SQL statement on ``engine``. Statements are parameterised: values, hence personal data, are
    never in them. (The contrib instrumentor would patch every engine the process creates.)"""
    if _provider is None:
        return
    tracer = _provider.get_tracer("onestop.sql")
    system = engine.dialect.name

    def before(conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        operation = statement.lstrip().split(" ", 1)[0].upper() or "SQL"
        span = tracer.start_span(f"SQL {operation}", kind=trace.SpanKind.CLIENT, attributes={
            "db.system": system, "db.operation": operation, "db.statement": statement})
        conn.info.setdefault(_SPAN, []).append(span)

    def after(conn: Any, *_: Any) -> None:
        stack = conn.info.get(_SPAN)
        if stack:
            stack.pop().end()

    def failed(context: Any) -> None:
        stack = context.connection.info.get(_SPAN) if context.connection is not None else None
        if stack:
            span = stack.pop()
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(context.original_exception).__name__))
            span.end()

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "handle_error", failed)


__all__ = ["configure", "install", "instrument_database", "provider", "shutdown",
           "temporal_interceptors"]
