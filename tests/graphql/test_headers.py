"""Security headers on every response of the app, over HTTP: answers, refusals, pages; HSTS in production."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from graphql_api import Api
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from onestop.graphql.headers import SecurityHeaders

REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "a GraphQL answer": ("POST", "/graphql", {"json": {"query": "{ __typename }"}}),
    "a GraphQL error": ("POST", "/graphql", {"json": {"query": "{ viewer { id } }"}}),
    "a malformed body": ("POST", "/graphql", {"content": b"{nope", "headers": {"content-type": "application/json"}}),
    "a body over the cap": ("POST", "/graphql", {"content": b"x" * 300_000,
                                                 "headers": {"content-type": "application/json"}}),
    "a health probe": ("GET", "/healthz", {}),
    "an unknown path": ("GET", "/nowhere", {}),
    "a dev token": ("POST", "/dev-idp/token", {"json": {"citizen": "nobody"}}),
}


@pytest.mark.parametrize(("method", "path", "extra"), REQUESTS.values(), ids=REQUESTS.keys())
async def test_every_response_carries_the_security_headers(api: Api, method: str, path: str,
                                                           extra: dict[str, Any]) -> None:
    response = await api.client.request(method, path, **extra)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # development runs on plain http


async def test_the_public_jwks_keeps_its_own_caching(api: Api) -> None:
    response = await api.client.get("/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_production_answers_with_hsts(production_api: Api) -> None:
    for response in [await production_api.client.post("/graphql", json={"query": "{ __typename }"}),
                     await production_api.client.get("/nowhere")]:
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")


@pytest.mark.parametrize("path", ["/graphql", "/dev-idp/"])
async def test_html_pages_have_a_strict_policy(api: Api, path: str) -> None:
    response = await api.client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["cache-control"] == "no-store"
    # Whatever runs inline is allowed by its hash, nothing else.
    for tag in ("script", "style"):
        for _inline in re.findall(rf"<{tag}>(.*?)</{tag}>", response.text, re.DOTALL):
            assert "'sha256-" in policy.split(f"{tag}-src", 1)[1].split(";", 1)[0]


async def test_another_starlette_app_can_add_the_middleware() -> None:
    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    async def text(_: Request) -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"Cache-Control": "public, max-age=60"})

    app = Starlette(routes=[Route("/", page), Route("/t", text)],
                    middleware=[Middleware(SecurityHeaders, hsts=True)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web.test") as client:
        html, plain = await client.get("/"), await client.get("/t")
    assert "script-src 'self'" in html.headers["content-security-policy"]
    assert html.headers["cache-control"] == "no-store"
    assert plain.headers["cache-control"] == "public, max-age=60"
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert html.headers["strict-transport-security"].startswith("max-age=")


HEADER_CASES: dict[str, tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]] = {
    "a JSON answer": ([(b"content-type", b"application/json")], [
        (b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"), (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]),
    "its own caching and policy": ([(b"cache-control", b"public"), (b"content-security-policy", b"sandbox")], [
        (b"cache-control", b"public"), (b"content-security-policy", b"sandbox"),
        (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY")]),
    # As MutableHeaders.setdefault: a name given in capitals is another name.
    "a name in capitals": ([(b"Cache-Control", b"public")], [
        (b"Cache-Control", b"public"), (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"), (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]),
    "a page": ([(b"content-type", b"text/html; charset=utf-8")], [
        (b"content-type", b"text/html; charset=utf-8"), (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"), (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"default-src 'self'")]),
    "a page with a policy that allows framing": (
        [(b"content-type", b"text/html"), (b"content-security-policy", b"default-src 'self'; ")], [
            (b"content-type", b"text/html"),
            (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"),
            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"), (b"x-frame-options", b"DENY")]),
}


@pytest.mark.parametrize(("given", "expected"), HEADER_CASES.values(), ids=HEADER_CASES.keys())
@pytest.mark.parametrize("as_tuple", [False, True])
async def test_the_headers_are_added_as_setdefault_would(given: list[tuple[bytes, bytes]],
                                                         expected: list[tuple[bytes, bytes]], as_tuple: bool) -> None:
    async def answer(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": tuple(given) if as_tuple else list(given)})
        await send({"type": "http.response.body", "body": b""})

    messages: list[Any] = []

    async def send(message: Any) -> None:
        messages.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    middleware = SecurityHeaders(answer, hsts=False, page_policy="default-src 'self'")
    await middleware({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)
    assert messages[0]["headers"] == expected
