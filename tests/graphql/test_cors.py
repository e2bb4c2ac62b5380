"""CORS over real HTTP: configured origins (or localhost in development) may call the API from a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from onestop.config import Environment
from onestop.engine.container import Engine
from onestop.graphql.app import create_app

APP_ORIGIN = "https://app.onestop.gov.hk"


@asynccontextmanager
async def client(engine: Engine, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine.settings.model_copy(update=settings), engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop.test") as http:
        yield http


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}


async def test_preflight_from_a_configured_origin_allows_post_with_a_bearer_token(engine: Engine) -> None:
    async with client(engine, env=Environment.PRODUCTION, cors_origins=[APP_ORIGIN]) as http:
        response = await http.options("/graphql", headers=preflight(APP_ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.onestop.gov.hk", "http://localhost:5173"])
async def test_preflight_from_another_origin_gets_no_allow_origin(engine: Engine, origin: str) -> None:
    async with client(engine, env=Environment.PRODUCTION, cors_origins=[APP_ORIGIN]) as http:
        response = await http.options("/graphql", headers=preflight(origin))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_cross_origin_post_exposes_www_authenticate(engine: Engine) -> None:
    async with client(engine, env=Environment.PRODUCTION, cors_origins=[APP_ORIGIN]) as http:
        response = await http.post("/graphql", json={"query": "{ viewer { sub } }"},
                                   headers={"Origin": APP_ORIGIN, "Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "www-authenticate" in response.headers
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"www-authenticate", "retry-after"} <= exposed


async def test_a_rate_limited_answer_is_readable_cross_origin(engine: Engine) -> None:
    async with client(engine, env=Environment.PRODUCTION, cors_origins=[APP_ORIGIN], rate_limit_per_minute=1) as http:
        await http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN})
        response = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN})
    assert response.status_code == 429
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_production_without_origins_sends_no_cors_headers(engine: Engine) -> None:
    async with client(engine, env=Environment.PRODUCTION, cors_origins=[]) as http:
        preflighted = await http.options("/graphql", headers=preflight("http://localhost:5173"))
        posted = await http.post("/graphql", json={"query": "{ __typename }"},
                                 headers={"Origin": "http://localhost:5173"})
    assert "access-control-allow-origin" not in preflighted.headers
    assert posted.status_code == 200
    assert "access-control-allow-origin" not in posted.headers


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://localhost"])
async def test_development_allows_any_localhost_port(engine: Engine, origin: str) -> None:
    async with client(engine, env=Environment.DEVELOPMENT, cors_origins=[]) as http:
        response = await http.options("/graphql", headers=preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", ["http://localhost.evil.example", "http://localhost:5173.evil.example",
                                    "https://evil.example"])
async def test_development_refuses_hosts_that_only_look_like_localhost(engine: Engine, origin: str) -> None:
    async with client(engine, env=Environment.DEVELOPMENT, cors_origins=[]) as http:
        response = await http.options("/graphql", headers=preflight(origin))
    assert "access-control-allow-origin" not in response.headers


async def test_configured_origins_replace_the_development_localhost_default(engine: Engine) -> None:
    async with client(engine, env=Environment.DEVELOPMENT, cors_origins=[APP_ORIGIN]) as http:
        response = await http.options("/graphql", headers=preflight("http://localhost:5173"))
    assert "access-control-allow-origin" not in response.headers


VARY_CASES: dict[str, list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]] = {
    "no vary": [(b"content-type", b"application/json")],
    "one vary": [(b"vary", b"Accept-Encoding"), (b"content-type", b"text/plain")],
    "two vary": [(b"vary", b"Accept"), (b"content-length", b"2"), (b"vary", b"Cookie")],
    "a tuple of headers": ((b"content-type", b"application/json"), (b"vary", b"Accept")),
}


@pytest.mark.parametrize("headers", VARY_CASES.values(), ids=VARY_CASES.keys())
@pytest.mark.parametrize("origin", [None, APP_ORIGIN, "https://elsewhere.example"])
async def test_answers_vary_on_origin_exactly_as_starlettes_cors(headers: Any, origin: str | None) -> None:
    """The short path for requests without an Origin sets the headers Starlette's own middleware sets."""
    from starlette.middleware.cors import CORSMiddleware

    from onestop.graphql.cors import ApiCORS

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        # A fresh list each time: both middlewares change the list they are given.
        given = headers if isinstance(headers, tuple) else list(headers)
        await send({"type": "http.response.start", "status": 200, "headers": given})
        await send({"type": "http.response.body", "body": b"{}"})

    async def sent(middleware: type[CORSMiddleware]) -> list[Any]:
        messages: list[Any] = []

        async def send(message: Any) -> None:
            messages.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        request_headers = [(b"host", b"onestop.test")] + ([(b"origin", origin.encode())] if origin else [])
        scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": request_headers}
        await middleware(answer, allow_origins=[APP_ORIGIN], allow_methods=["POST"])(scope, receive, send)
        return messages

    ours, starlettes = await sent(ApiCORS), await sent(CORSMiddleware)
    assert [dict(m, headers=list(m.get("headers", []))) for m in ours] == [
        dict(m, headers=list(m.get("headers", []))) for m in starlettes]
    assert any(name == b"vary" for name, _ in ours[0]["headers"])
