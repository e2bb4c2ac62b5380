"""What the HTTP and GraphQL layer tells operators: request ids, metrics, traces; and ``GET /metrics``.

Labels and span attributes stay free of personal data and bounded: a route is the template the app declares, an
operation is the top-level field names the schema declares (never the client-chosen operation name), and
resolver arguments and query text, which may carry an HKID or an address, never reach a span.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLFieldResolver,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    default_field_resolver,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing.opentelemetry import OpenTelemetryExtension
from strawberry.types import ExecutionContext

from onestop.engine import (
    GRAPHQL_ERRORS,
    GRAPHQL_FIELD_LATENCY,
    GRAPHQL_USER_ERRORS,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    LOG_OPERATION,
    LOG_REQUEST_ID,
    bounded_label,
    metrics_exposition,
    tracer_provider,
)
from onestop.graphql.errors import ErrorCode

access_log = logging.getLogger("onestop.http")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")
# A caller's request id is echoed only when it is a plain token: it lands in every log line and response.
_CALLER_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_ERROR_CODES = frozenset(code.value for code in ErrorCode)
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


class RequestObservation:
    """Outermost ASGI middleware: a request id per request (the caller's ``X-Request-ID`` when well-formed),
    echoed in the response and set for every log line; HTTP latency and status by route template."""

    def __init__(self, app: ASGIApp, routes: Iterable[str]) -> None:
        self.app = app
        self.exact = frozenset(r for r in routes if not r.endswith("/*"))
        self.prefixes = tuple(r.removesuffix("*") for r in routes if r.endswith("/*"))

    def route(self, path: str) -> str:
        """The route template of ``path``: a declared route, a mount (``/dev-idp/*``) or ``unmatched``."""
        if path in self.exact:
            return path
        for prefix in self.prefixes:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return prefix + "*"
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        # Unique, not secret: no need for uuid4's system call and UUID object on every request.
        request_id = given if _CALLER_ID.match(given) else f"{random.getrandbits(128):032x}"
        request_token = LOG_REQUEST_ID.set(request_id)
        operation_token = LOG_OPERATION.set(None)
        method = bounded_label(scope["method"], _METHODS)
        route = self.route(scope["path"])
        status = 500  # what the client sees if the app fails before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers)
                headers.append((_REQUEST_ID_NAME, request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            _http_latency(method, route).observe(elapsed)
            _http_requests(method, route, status).inc()
            # The access log: the route template, never the raw path or query string (they may carry ids).
            access_log.info("%s %s %d %.1fms", method, route, status, elapsed * 1000)
            LOG_OPERATION.reset(operation_token)
            LOG_REQUEST_ID.reset(request_token)


# Metric children by their label values, which are all bounded here (methods, route templates, statuses, root
# fields): ``labels()`` takes a lock and builds its key on every call.
@functools.lru_cache(maxsize=1024)
def _http_latency(method: str, route: str) -> Histogram:
    return HTTP_LATENCY.labels(method, route)


@functools.lru_cache(maxsize=1024)
def _http_requests(method: str, route: str, status: int) -> Counter:
    return HTTP_REQUESTS.labels(method, route, str(status))


@functools.lru_cache(maxsize=1024)
def _field_latency(operation: str, field_name: str) -> Histogram:
    return GRAPHQL_FIELD_LATENCY.labels(operation, field_name)


def top_level_fields(operation: OperationDefinitionNode | None) -> list[str]:
    """The schema field names an operation selects at its root (aliases resolved to the field's name)."""
    if operation is None:
        return []
    return sorted({s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)})


def operation_label(context: ExecutionContext) -> str:
    """``mutation startApplication``: the selected operation's type and root fields; ``unknown`` before parsing
    or when ``operationName`` names no operation."""
    return label_of(context.graphql_document, context.operation_name)


def label_of(document: DocumentNode | None, wanted: str | None) -> str:
    """``operation_label`` of the operation named ``wanted`` in ``document`` (the first one when None)."""
    if document is None:
        return "unknown"
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                wanted is None or (definition.name is not None and definition.name.value == wanted)):
            fields = top_level_fields(definition)
            return f"{definition.operation.value} {','.join(fields)}" if fields else definition.operation.value
    return "unknown"


def count_errors(result: object) -> None:
    """The errors of ``result`` by ``extensions.code``, counted as the operation ends (after
    ``errors.stamp_codes``) by ``guard.Guard``; root fields are timed by ``time_root_fields``."""
    for error in getattr(result, "errors", None) or ():
        code = str((error.extensions or {}).get("code", ErrorCode.INTERNAL_SERVER_ERROR.value))
        GRAPHQL_ERRORS.labels(bounded_label(code, _ERROR_CODES)).inc()


def name_operation(label: str) -> None:
    """Names the operation for the logs by its ``operation_label``; parsed and validated by now: the root fields
    are the schema's names."""
    LOG_OPERATION.set(label)


def time_root_fields(schema: GraphQLSchema) -> None:
    """Latency and userErrors per root field, by wrapping the root types' resolvers once.

    Not an extension's ``resolve``: that makes graphql-core wrap every field of every answer, per request, to time
    only the root ones.
    """
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        for definition in (root.fields.values() if root is not None else ()):
            definition.resolve = _timed(definition.resolve or default_field_resolver)


def _timed(resolver: GraphQLFieldResolver) -> GraphQLFieldResolver:
    # Synchronous around the resolver: an ``async def`` here would turn a synchronous field into a coroutine.
    def resolve(root: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = resolver(root, info, **kwargs)
        except BaseException:
            _observe(info, started, None)
            raise
        if isawaitable(result):
            return _finish(result, info, started)
        _observe(info, started, result)
        return result

    return resolve


async def _finish(pending: Awaitable[Any], info: GraphQLResolveInfo[Any], started: float) -> Any:
    result = None
    try:
        result = await pending
    finally:
        _observe(info, started, result)
    return result


def _observe(info: GraphQLResolveInfo[Any], started: float, result: Any) -> None:
    _field_latency(info.operation.operation.value, info.field_name).observe(time.perf_counter() - started)
    for user_error in getattr(result, "user_errors", None) or ():
        raw = getattr(user_error, "code", "")
        code = str(getattr(raw, "value", raw))  # a UserErrorCode member, or a plain string
        GRAPHQL_USER_ERRORS.labels(info.field_name, code if _CODE.match(code) else "OTHER").inc()


class GraphQLTracing(OpenTelemetryExtension):
    """Strawberry's OpenTelemetry spans without the query text or resolver arguments (they may hold personal
    data); the operation span is named by its top-level fields; only root fields get a resolver span."""

    def __init__(self, *, tracer_provider: trace.TracerProvider | None = None, **kwargs: Any) -> None:
        super().__init__(arg_filter=lambda _args, _info: {}, tracer_provider=tracer_provider, **kwargs)

    def on_operation(self) -> Generator[None, None, None]:
        span = self._tracer.start_span("GraphQL operation", kind=SpanKind.SERVER)
        span.set_attribute("component", "graphql")
        self._span_holder[LifecycleStep.OPERATION] = span
        yield
        span.update_name(f"GraphQL {operation_label(self.execution_context)}")
        span.end()

    async def resolve(self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], *args: Any,
                      **kwargs: Any) -> Any:
        if info.path.prev is None:
            return await super().resolve(_next, root, info, *args, **kwargs)
        # A span per nested field would dwarf the work it measures: only the operation's root fields get one.
        result = _next(root, info, *args, **kwargs)
        return await result if isawaitable(result) else result


def observability_extensions() -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """Schema extensions to put first: tracing when this process traces (metrics are ``guard.RequestGuard``'s)."""
    provider = tracer_provider()
    if provider is None:
        return []
    return [functools.partial(GraphQLTracing, tracer_provider=provider)]


def observability_middleware(routes: Sequence[BaseRoute]) -> list[Middleware]:
    """The outermost middleware: request ids and HTTP metrics by the templates of ``routes``, then the request's
    server span when this process traces."""
    templates = [f"{r.path}/*" if isinstance(r, Mount) else r.path for r in routes
                 if isinstance(r, Route | WebSocketRoute | Mount)]
    middleware = [Middleware(RequestObservation, routes=templates)]
    provider = tracer_provider()
    if provider is not None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        middleware.append(Middleware(OpenTelemetryMiddleware, tracer_provider=provider,
                                     exclude_spans=["receive", "send"]))
    return middleware


async def metrics_endpoint(_: Request) -> Response:
    body, content_type = metrics_exposition()
    return Response(body, media_type=content_type)


__all__ = ["REQUEST_ID_HEADER", "GraphQLTracing", "RequestObservation", "count_errors", "label_of",
           "metrics_endpoint", "name_operation", "observability_extensions", "observability_middleware",
           "operation_label", "time_root_fields", "top_level_fields"]
