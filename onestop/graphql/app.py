"""The Starlette application: POST /graphql, health probes, the platform's JWKS, the dev IdP in development."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from onestop.config import Settings
from onestop.engine import Engine, build_limits
from onestop.engine import Limits as RateLimits
from onestop.graphql import graphiql
from onestop.graphql.context import GraphQLView
from onestop.graphql.cors import ApiCORS
from onestop.graphql.documents import http as documents_http
from onestop.graphql.headers import SecurityHeaders
from onestop.graphql.observability import REQUEST_ID_HEADER, metrics_endpoint, observability_middleware
from onestop.graphql.ratelimit import Limit, RateLimit, trusted_networks
from onestop.graphql.schema import build_schema
from onestop.graphql.security import BodySizeLimit, Limits

Clock = Callable[[], float]


def create_view(settings: Settings, engine: Engine, *, limits: Limits | None = None,
                rates: RateLimits | None = None) -> GraphQLView:
    """The GraphQL endpoint: GraphiQL and introspection only in development; queries by POST only."""
    return GraphQLView(
        engine,
        rates or rate_limits_for(settings, engine),
        max_json_depth=settings.max_json_depth,
        schema=build_schema(production=not settings.development,
                            limits=limits or Limits(max_mutation_fields=settings.max_mutations_per_request)),
        graphql_ide="graphiql" if settings.development else None,
        # GET queries are cacheable by proxies and bypass CORS preflight; the contract is POST.
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )


def create_app(settings: Settings, engine: Engine, *, limits: Limits | None = None,
               clock: Clock = time.monotonic, web: ASGIApp | None = None) -> Starlette:
    """The whole HTTP surface over an already-built engine (the caller owns ``engine`` and closes it).

    ``clock`` drives the rate limiter's buckets (tests inject one instead of sleeping). ``web``, when given,
    is mounted at ``/`` behind every API route (the runtime builds it: this package never imports the web app).
    """
    rates = rate_limits_for(settings, engine, clock=clock)
    view = create_view(settings, engine, limits=limits, rates=rates)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks: dict[str, Any] = dict(await engine.readiness())
        ok = "unavailable" not in checks.values()
        if engine.catalogue.problems:
            checks["catalogueProblems"] = len(engine.catalogue.problems)
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    async def jwks(_: Request) -> Response:
        return JSONResponse(engine.data.signer.jwks(), headers={"cache-control": "public, max-age=300"})

    documents = documents_http.DocumentEndpoints(engine)
    methods = ["GET", "POST"] if settings.development else ["POST"]
    routes: list[BaseRoute] = [
        Route("/graphql", view, methods=methods),
        WebSocketRoute("/graphql", view),  # subscriptions: graphql-transport-ws only
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route(documents_http.PREFIX, documents.upload, methods=["POST"]),
        Route(documents_http.PREFIX + "/{document_id}", documents.download, methods=["GET"]),
    ]
    if settings.development:
        routes.append(Mount(graphiql.PREFIX, app=graphiql.Assets()))
    if settings.development and engine.identity_provider is not None:
        routes.append(Mount("/dev-idp", app=engine.identity_provider.app))
    if settings.development and engine.dev_mailbox is not None:
        routes.append(Mount("/dev-mail", app=engine.dev_mailbox.app))
    routes.append(Route("/payments/webhook", _payment_webhook(engine), methods=["POST"]))
    if settings.development and engine.payment_simulator is not None:
        routes.append(Mount("/dev-pay", app=engine.payment_simulator))
    if web is not None:
        routes.append(Mount("/", app=web))
    return Starlette(routes=routes, middleware=[*observability_middleware(routes),
                                                *_middleware(settings, engine, rates,
                                                                                 web=web is not None)])


def _payment_webhook(engine: Engine) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        # The payment provider's signed notification (HMAC over the exact body); 2xx stops its resending.
        status, word = await engine.payments.receive(await request.body(), request.headers)
        return JSONResponse({"result": word}, status_code=status)

    return receive


WEB_UPLOAD_PATH = "/applications"


def _middleware(settings: Settings, engine: Engine, rates: RateLimits, web: bool = False) -> list[Middleware]:
    # Outermost of all, so every answer (refusals and CORS preflights included) carries the headers.
    middleware = [Middleware(SecurityHeaders, hsts=not settings.development)]
    if settings.cors_origins or settings.cors_origin_regex:
        # Outside the limits, so refusals (429, 413) carry CORS headers too and the browser lets the frontend read them.
        # No credentials: the API authenticates by bearer token, never by cookie.
        middleware.append(Middleware(
            ApiCORS,
            allow_origins=settings.cors_origins,
            allow_origin_regex=settings.cors_origin_regex,
            allow_methods=["GET", "POST"],
            # Accept-Language picks the answer's language; browsers preflight it for some values.
            allow_headers=["Authorization", "Content-Type", "Accept-Language", "X-Resume-Token", "X-File-Name"],
            expose_headers=["WWW-Authenticate", "Retry-After", REQUEST_ID_HEADER],
            max_age=600,
        ))
    limits = [Limit("/graphql", rates.api, by_subject=True),
              Limit(documents_http.PREFIX, rates.api, by_subject=True)] if rates.api else []
    if rates.token_requests:
        limits.append(Limit("/dev-idp/token", rates.token_requests, by_subject=False))
    middleware.append(Middleware(RateLimit, limits=limits, trusted=trusted_networks(settings.trusted_proxies),
                                 verify=engine.tokens.verify, events=engine.security.events))
    # Uploads stream under their file field's own limit (``documents/http.py``), checked while reading.
    # The web app's application pages take file uploads too, and limit their bodies themselves.
    exempt = (documents_http.PREFIX, *((WEB_UPLOAD_PATH,) if web else ()))
    middleware.append(Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, exempt=exempt))
    return middleware


def rate_limits_for(settings: Settings, engine: Engine, *, clock: Clock = time.monotonic) -> RateLimits:
    """The limits the settings turn on, shared by every replica when the database is PostgreSQL."""
    return build_limits(
        shared=engine.database.shared, database=engine.database, cipher=engine.data.cipher,
        api_per_minute=settings.rate_limit_per_minute, api_burst=settings.rate_limit_burst,
        token_per_minute=settings.token_rate_limit_per_minute if settings.development else 0,
        anonymous_per_ip_per_hour=settings.anonymous_starts_per_hour_per_ip,
        anonymous_per_service_per_hour=settings.anonymous_starts_per_hour_per_service, clock=clock)
