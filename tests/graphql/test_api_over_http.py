"""The API under the configuration ``serve`` and ``api`` run (``serving.api_config``: no proxy headers, no access
line) answers byte for byte as under uvicorn's defaults, over real HTTP: GraphQL answers and errors, refusals,
probes, HEAD and keep-alive."""

from __future__ import annotations

import json
import re
from contextlib import AbstractAsyncContextManager

import pytest
from rawhttp import exchange, listening

from onestop.engine.container import Engine
from onestop.graphql.app import create_app


def served(engine: Engine, *, ours: bool) -> AbstractAsyncContextManager[int]:
    return listening(create_app(engine.settings, engine), ours=ours)


def post(body: bytes, *, close: bool = False, extra: str = "") -> bytes:
    return (f"POST /graphql HTTP/1.1\r\nHost: onestop.test\r\nX-Request-ID: test-request-0001\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}"
            f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n").encode() + body


def get(path: str, *, method: str = "GET", close: bool = False) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: onestop.test\r\nX-Request-ID: test-request-0001\r\n"
            f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n").encode()


QUERY = json.dumps({"query": "{ services(first: 2) { edges { node { slug } } } }"}).encode()
CASES: dict[str, tuple[bytes, ...]] = {
    "a GraphQL answer": (post(QUERY, close=True),),
    "a GraphQL error": (post(json.dumps({"query": "{ viewer { id } }"}).encode(), close=True),),
    "a malformed body": (post(b"{nope", close=True),),
    # Refused on its Content-Length, before a byte of it is read (sent, it would meet a closed connection).
    "a body over the cap": (post(b"x" * 300_000, close=True)[:-300_000],),
    "a health probe": (get("/healthz", close=True),),
    "a HEAD probe": (get("/healthz", method="HEAD", close=True),),
    "an unknown path": (get("/nowhere", close=True),),
    "a cross-origin preflight": (get("/graphql", method="OPTIONS", close=True).replace(
        b"\r\n\r\n", b"\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n\r\n"),),
    "keep-alive": (post(QUERY), get("/healthz"), post(b"{nope"), post(QUERY, close=True)),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_api_answers_as_under_uvicorns_own_protocol(engine: Engine, case: str) -> None:
    async with served(engine, ours=True) as port, served(engine, ours=False) as reference:
        got = await exchange(port, *CASES[case])
        expected = await exchange(reference, *CASES[case])
    assert expected.startswith(b"HTTP/1.1 ")
    assert re.sub(rb"\r\ndate: [^\r]*", b"", got) == re.sub(rb"\r\ndate: [^\r]*", b"", expected)
