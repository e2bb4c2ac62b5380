"""Per-request context: who is calling (verified lazily), in which language, against which catalogue."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.dataloader import DataLoader
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import Info
from strawberry.types.graphql import OperationType

from onestop.catalogue.text import Lang
from onestop.config import Settings
from onestop.engine import EventKind, Limits, Principal, Profile
from onestop.graphql import body, graphiql
from onestop.graphql.errors import Forbidden, RateLimited, Unauthenticated, engine_failure
from onestop.graphql.guard import direct_execute
from onestop.graphql.language import request_language
from onestop.graphql.ratelimit import CLIENT_IP, VERIFIED_PRINCIPAL

if TYPE_CHECKING:  # the schema (and `onestop export-schema`) must build without loading a catalogue
    from onestop.engine import CatalogueSnapshot, Engine

L = TypeVar("L", bound=DataLoader[Any, Any])


@dataclass
class Context:
    """What every resolver gets as ``info.context``. The catalogue snapshot is pinned for the request,
    so a reload in the middle of a query never mixes two versions."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    engine: Engine
    lang: Lang
    snapshot: CatalogueSnapshot
    _authorization: str | None = None
    # X-Resume-Token: an anonymous applicant's key to their own `login: none` applications; only the application
    # resolvers read it, so it grants nothing else (not viewer, consents or profiles).
    resume_token: str | None = None
    rates: Limits | None = None
    _principal: Principal | None = None
    _auth_error: Exception | None = None
    _verified: bool = False
    _loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    async def principal(self) -> Principal | None:
        """The verified caller, or None without an Authorization header; raises UNAUTHENTICATED for a bad token."""
        if not self._verified:
            self._verified = True
            self._principal, self._auth_error = await self._verify()
        if self._auth_error is not None:
            raise self._auth_error
        return self._principal

    @property
    def client_ip(self) -> str:
        """The caller's address as the rate limiter resolved it (trusted proxies' forwarding applied)."""
        state = self.request.scope.get("state", {})
        resolved = state.get(CLIENT_IP) if isinstance(state, dict) else None
        if isinstance(resolved, str):
            return resolved
        client = self.request.client
        return client.host if client else "unknown"

    async def spend_anonymous_start(self, service_slug: str) -> None:
        """Count an anonymous start against the client's and the service's hourly budgets (RATE_LIMITED when spent)."""
        if self.rates is None:
            return
        budgets = ((self.rates.anonymous_starts_by_ip, f"ip:{self.client_ip}"),
                   (self.rates.anonymous_starts_by_service, f"service:{service_slug}"))
        for buckets, key in budgets:
            wait = await buckets.take(key) if buckets is not None else 0.0
            if wait > 0:
                self.engine.security.events.record(EventKind.RATE_LIMITED, ip=self.client_ip,
                                                   path="startApplication", by=key.partition(":")[0])
                raise RateLimited(max(1, math.ceil(wait)))

    async def require_citizen(self) -> Principal:
        principal = await self.principal()
        if principal is None:
            raise Unauthenticated()
        if not principal.is_citizen:
            raise Forbidden("This needs a citizen's login; staff tokens cannot act for citizens.")
        return principal

    async def _verify(self) -> tuple[Principal | None, Exception | None]:
        header = self._authorization
        if header is None:
            return None, None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, Unauthenticated("The Authorization header must be 'Bearer <access token>'.")
        verified = self.request.scope.get("state", {}).get(VERIFIED_PRINCIPAL)
        if isinstance(verified, tuple) and verified[0] == token.strip():
            return verified[1], None  # the rate limiter verified this very token moments ago
        try:
            result = await self.engine.tokens.verify(token.strip())
        except Exception as exc:
            mapped = engine_failure(exc)
            if mapped is None:
                raise
            self.engine.security.events.record(EventKind.TOKEN_REFUSED, ip=self.client_ip,
                                               outcome=str(mapped.extensions.get("reason", mapped.code)))
            return None, mapped
        if not isinstance(result, Principal):
            raise TypeError(f"TokenVerifier.verify returned {type(result).__name__}, not Principal")
        return result, None

    async def profile(self, sub: str) -> Profile:
        """The e-ME profile of ``sub``, loaded at most once per request (several fields may need it)."""
        profiles = self.engine.data.profiles

        async def load(subs: list[str]) -> list[Profile]:
            return list(await asyncio.gather(*(profiles.get(one) for one in subs)))

        loader: DataLoader[str, Profile] = self.loader("profiles", lambda: DataLoader(load_fn=load))
        return await loader.load(sub)

    def loader(self, name: str, factory: Callable[[], L]) -> L:
        """A DataLoader created once per request under ``name`` (batching without cross-request caching)."""
        existing = self._loaders.get(name)
        if existing is None:
            existing = self._loaders[name] = factory()
        return existing  # type: ignore[return-value]


Info_: TypeAlias = Info[Context, None]


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's Starlette view with our context (Starlette has no ``context_getter``)."""

    def __init__(self, engine: Engine, rates: Limits, *, max_json_depth: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.rates = rates
        self.max_json_depth = max_json_depth
        # The request's checks run in-line when they are the schema's only extension (no tracing).
        self.direct = direct_execute(self.schema)

    def decode_json(self, data: str | bytes) -> object:
        return body.decode(data, max_depth=self.max_json_depth)

    def encode_json(self, data: object) -> str | bytes:
        return body.encode(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page(request)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except body.MalformedJSON as exc:
            raise HTTPException(400, exc.reason) from exc
        except ValueError as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        items = parsed if isinstance(parsed, list) else [parsed]
        if not all(isinstance(item, dict) for item in items):  # strawberry's run would crash on these (a 500)
            raise HTTPException(400, "No GraphQL query found in the request")
        return parsed

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        headers = request.headers
        return self._context(request, response, headers.get("accept-language"), headers.get("authorization"),
                             headers.get("x-resume-token"))

    def _context(self, request: Request | WebSocket, response: Response | WebSocket, accept_language: str | None,
                 authorization: str | None, resume_token: str | None) -> Context:
        return Context(
            request=request,
            response=response,
            settings=self.engine.settings,
            engine=self.engine,
            lang=request_language(accept_language),
            snapshot=self.engine.catalogue.snapshot,
            _authorization=authorization,
            resume_token=(resume_token or "").strip() or None,
            rates=self.rates,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._run_json_post(request) if scope["method"] == "POST" else None
            if response is None:
                response = await self.run(request)
        except HTTPException as exc:
            # Clients parse JSON errors; strawberry's plain-text reason would be the only non-JSON answer.
            code = "BAD_REQUEST" if exc.status_code == 400 else f"HTTP_{exc.status_code}"
            response = JSONResponse(
                {"errors": [{"message": _http_message(exc), "extensions": {"code": code}}]},
                status_code=exc.status_code,
            )
        await response(scope, receive, send)

    async def _run_json_post(self, request: Request) -> Response | None:
        """Strawberry's ``run`` for its common case, a POSTed JSON object with one operation, without its generic
        steps (content-type parsed by ``email.message``, runtime-protocol checks on the result); None for anything
        else, which strawberry's ``run`` then handles (the body read here is cached on ``request``)."""
        # The headers this reads, in one pass over them (the first of each name, as Starlette's ``Headers.get``).
        found: dict[bytes, str] = {}
        for name, value in request.scope["headers"]:
            if name in _READ_HEADERS and name not in found:
                found[name] = value.decode("latin-1")
        mime = found.get(b"content-type", "").partition(";")[0].strip()
        # Strawberry reads only Accept here, from every header decoded; one header is enough.
        if mime != "application/json" or self._get_stream_transport_from_headers(
                {"accept": found.get(b"accept", "")}) is not None:
            return None
        try:
            data = self.decode_json(await request.body())
        except ValueError:
            return None
        if isinstance(data, list):
            return None  # a batch
        if not isinstance(data, dict):  # strawberry's run crashes on these (a 500)
            raise HTTPException(400, "No GraphQL query found in the request")
        query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
        if (not isinstance(query, str | None) or not isinstance(variables, dict | None)
                or not isinstance(extensions, dict | None)):
            return None
        sub_response = SubResponse()
        context = self._context(request, sub_response, found.get(b"accept-language"), found.get(b"authorization"),
                                found.get(b"x-resume-token"))
        operation_name = data.get("operationName")
        try:
            if self.direct is not None and isinstance(operation_name, str | None):
                result = await self.direct(query, variables=variables, context=context, operation_name=operation_name,
                                           allowed=_POST_OPERATIONS, extensions=extensions)
            else:
                result = await self.schema.execute(query, root_value=None,
                                                   variable_values=variables, context_value=context,
                                                   operation_name=operation_name,
                                                   allowed_operation_types=_POST_OPERATIONS,
                                                   operation_extensions=extensions)
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason("POST")) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        # Strawberry's ``create_response``, with the body encoded straight to bytes (not to a string first).
        response = Response(body.encode_bytes(response_data), media_type="application/json")
        response.raw_headers.extend(sub_response.raw_headers)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response


class SubResponse(Response):
    """What resolvers may set on the answer (headers, a status, background tasks), as strawberry's sub-response:
    a Response without the empty body and the content length every Starlette response starts with."""

    def __init__(self) -> None:  # not Response.__init__: no body, so no content length either
        self.status_code = None  # type: ignore[assignment]  # strawberry's sub-response has no status either
        self.background = None
        self.raw_headers = []


_POST_OPERATIONS = OperationType.from_http("POST")
_READ_HEADERS = frozenset({b"content-type", b"accept", b"accept-language", b"authorization", b"x-resume-token"})


def _http_message(exc: HTTPException) -> str:
    if exc.reason == "Unable to parse request body as JSON":
        return "The request body is not valid JSON: send {\"query\": \"...\", \"variables\": {...}}."
    if exc.reason == "No GraphQL query found in the request":
        return "No GraphQL query in the request: send a JSON body with a \"query\" string."
    return exc.reason
