"""The Starlette application: POST /graphql, health probes, the platform's JWKS, the dev IdP in development."""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from onestop.config import Settings
from onestop.engine import Engine
from onestop.graphql.context import GraphQLView
from onestop.graphql.ratelimit import Clock, RateLimit, limits_for
from onestop.graphql.schema import build_schema
from onestop.graphql.security import BodySizeLimit, Limits


def create_view(settings: Settings, engine: Engine, *, limits: Limits | None = None) -> GraphQLView:
    """The GraphQL endpoint: GraphiQL and introspection only in development; queries by POST only."""
    return GraphQLView(
        engine,
        schema=build_schema(production=not settings.development, limits=limits),
        graphql_ide="graphiql" if settings.development else None,
        # GET queries are cacheable by proxies and bypass CORS preflight; the contract is POST.
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )


def create_app(settings: Settings, engine: Engine, *, limits: Limits | None = None,
               clock: Clock = time.monotonic) -> Starlette:
    """The whole HTTP surface over an already-built engine (the caller owns ``engine`` and closes it).

    ``clock`` drives the rate limiter's buckets (tests inject one instead of sleeping).
    """
    view = create_view(settings, engine, limits=limits)

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

    methods = ["GET", "POST"] if settings.development else ["POST"]
    routes: list[BaseRoute] = [
        Route("/graphql", view, methods=methods),
        WebSocketRoute("/graphql", view),  # subscriptions: graphql-transport-ws only
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
    if settings.development and engine.identity_provider is not None:
        routes.append(Mount("/dev-idp", app=engine.identity_provider.app))
    return Starlette(routes=routes, middleware=_middleware(settings, engine, clock))


def _middleware(settings: Settings, engine: Engine, clock: Clock) -> list[Middleware]:
    middleware = []
    if settings.cors_origins or settings.cors_origin_regex:
        # Outermost, so refusals (429, 413) carry CORS headers too and the browser lets the frontend read them.
        # No credentials: the API authenticates by bearer token, never by cookie.
        middleware.append(Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_origin_regex=settings.cors_origin_regex,
            allow_methods=["GET", "POST"],
            # Accept-Language picks the answer's language; browsers preflight it for some values.
            allow_headers=["Authorization", "Content-Type", "Accept-Language", "X-Resume-Token"],
            expose_headers=["WWW-Authenticate", "Retry-After"],
            max_age=600,
        ))
    rate_limits = limits_for(settings, clock=clock)
    if rate_limits:
        verify = engine.tokens.verify
        middleware.append(Middleware(RateLimit, limits=rate_limits, verify=verify, events=engine.security.events))
    middleware.append(Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes))
    return middleware
