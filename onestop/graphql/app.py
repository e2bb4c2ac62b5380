"""The Starlette application: POST /graphql, health probes, the platform's JWKS, the dev IdP in development."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from onestop.config import Settings
from onestop.engine.container import Engine
from onestop.graphql.context import GraphQLView
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


def create_app(settings: Settings, engine: Engine, *, limits: Limits | None = None) -> Starlette:
    """The whole HTTP surface over an already-built engine (the caller owns ``engine`` and closes it)."""
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
        if engine.signer is None:
            return JSONResponse({"keys": []})
        return JSONResponse(engine.signer.jwks(), headers={"cache-control": "public, max-age=300"})

    methods = ["GET", "POST"] if settings.development else ["POST"]
    routes: list[BaseRoute] = [
        Route("/graphql", view, methods=methods),
        WebSocketRoute("/graphql", view),  # subscriptions: graphql-transport-ws only
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
    if settings.development and engine.dev_idp is not None:
        routes.append(Mount("/dev-idp", app=_dev_idp_app(engine)))
    return Starlette(
        routes=routes,
        middleware=[Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)],
    )


def _dev_idp_app(engine: Engine) -> Any:
    dev_idp = engine.dev_idp
    # The dev IdP is either an ASGI app itself or offers one (H4's choice).
    for name in ("asgi_app", "app", "create_app"):
        candidate = getattr(dev_idp, name, None)
        if candidate is not None:
            return candidate() if callable(candidate) and name == "create_app" else candidate
    return dev_idp
