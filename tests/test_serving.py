"""The API's HTTP protocol answers byte for byte as uvicorn's own, over real HTTP, in one write per answer with a
Content-Length: normal, error, streamed, large, HEAD, 204, keep-alive, pipelined, Connection: close and
Expect: 100-continue requests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from rawhttp import exchange, listening
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from onestop.serving import OneWriteProtocol

LARGE = bytes(range(256)) * 4096  # 1 MiB


async def json_answer(request: Request) -> Response:
    return JSONResponse({"hello": request.query_params.get("name", "world"), "body": (await request.body()).decode()},
                        headers={"x-extra": "1"})


async def large(_: Request) -> Response:
    return Response(LARGE, media_type="application/octet-stream")


async def stream(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.01)
            yield part

    return StreamingResponse(chunks(), media_type="text/plain")


async def empty(_: Request) -> Response:
    return Response(status_code=204)


async def fails(_: Request) -> Response:
    raise RuntimeError("the app fails before answering")


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers that break their own Content-Length, or fail after their start message."""
    kind = scope["path"].rsplit("/", 1)[-1]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"5"), (b"content-type", b"text/plain")]})
    if kind == "fails-after-start":
        raise RuntimeError("the app fails after its start message")
    if kind == "returns-after-start":
        return
    if kind == "longer":
        await send({"type": "http.response.body", "body": b"123456"})
    elif kind == "shorter":
        await send({"type": "http.response.body", "body": b"123"})
    elif kind == "in-parts":
        await send({"type": "http.response.body", "body": b"12", "more_body": True})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"345"})


APP = Starlette(routes=[Route("/json", json_answer, methods=["GET", "POST", "HEAD"]),
                        Route("/large", large, methods=["GET", "HEAD"]), Route("/stream", stream),
                        Route("/empty", empty), Route("/fails", fails),
                        Mount("/raw", app=raw)])


class Writes:
    """Counts the writes a connection's transport is given (each one is a system call and a TCP segment)."""

    def __init__(self) -> None:
        self.count = 0


def _counting(protocol: type[asyncio.Protocol], writes: Writes) -> type[asyncio.Protocol]:
    class Counting(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(_CountingTransport(transport, writes))

    return Counting


class _CountingTransport:
    def __init__(self, transport: asyncio.Transport, writes: Writes) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.count += 1
        self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self._writes.count += 1
        self._transport.writelines(chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def serving(protocol: type[asyncio.Protocol] | str, writes: Writes) -> AbstractAsyncContextManager[int]:
    if isinstance(protocol, str):
        return listening(APP, ours=False)
    return listening(APP, ours=protocol is OneWriteProtocol, http=_counting(protocol, writes))


def _request(method: str, path: str, body: bytes = b"", *, close: bool = False, extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}"
    if body or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


CASES: dict[str, tuple[bytes, ...]] = {
    "json": (_request("GET", "/json?name=x", close=True),),
    "post": (_request("POST", "/json", b'{"query": "{ a }"}', close=True),),
    "large": (_request("GET", "/large", close=True),),
    "head": (_request("HEAD", "/json", close=True),),
    "head-large": (_request("HEAD", "/large", close=True),),
    "streamed": (_request("GET", "/stream", close=True),),
    "no-content": (_request("GET", "/empty", close=True),),
    "not-found": (_request("GET", "/nowhere", close=True),),
    "method-not-allowed": (_request("DELETE", "/json", close=True),),
    "app-error": (_request("GET", "/fails"),),
    "fails-after-start": (_request("GET", "/raw/fails-after-start"),),
    "returns-after-start": (_request("GET", "/raw/returns-after-start"),),
    "longer-than-length": (_request("GET", "/raw/longer"),),
    "shorter-than-length": (_request("GET", "/raw/shorter"),),
    "body-in-parts": (_request("GET", "/raw/in-parts", close=True),),
    "keep-alive": (_request("GET", "/json?name=a"), _request("POST", "/json", b"{}"), _request("GET", "/large"),
                   _request("GET", "/stream"), _request("GET", "/json?name=b", close=True)),
    "pipelined": (_request("GET", "/json?name=a") + _request("GET", "/large") + _request("GET", "/json", close=True),),
    "http-1.0": (b"GET /json HTTP/1.0\r\nHost: test\r\n\r\n",),
    "bad-request": (b"GET /json HTTP/1.1\r\nHost test\r\n\r\n",),
    "expect-continue": (_request("POST", "/json", close=True, extra="Expect: 100-continue\r\n")
                        .replace(b"Content-Length: 0", b"Content-Length: 2"), b"{}"),
}


def _normal(raw: bytes) -> bytes:
    return re.sub(rb"\r\ndate: [^\r]*", b"\r\ndate: -", raw)


@pytest.fixture(scope="module")
def quiet_uvicorn_errors() -> Iterator[None]:
    # The failing apps are logged by uvicorn as errors; they are the cases under test here.
    import logging

    logger = logging.getLogger("uvicorn.error")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.mark.parametrize("case", CASES)
async def test_answers_are_byte_for_byte_uvicorns(case: str, quiet_uvicorn_errors: None) -> None:
    ours, theirs = Writes(), Writes()
    async with serving(OneWriteProtocol, ours) as port, serving("httptools", theirs) as reference:
        got = await exchange(port, *CASES[case])
        expected = await exchange(reference, *CASES[case])
    assert expected.startswith(b"HTTP/1"), expected  # the case reached an answer
    assert (b" 500 " in expected) == (case == "app-error"), expected  # the raw cases are what they say
    assert _normal(got) == _normal(expected)


@pytest.mark.parametrize(("case", "writes"), [
    ("json", 1), ("post", 1), ("large", 1), ("head", 1), ("not-found", 1), ("app-error", 1),
    ("keep-alive", 9),  # four answers of one write each; the streamed one as uvicorn: head, three chunks, end
    ("body-in-parts", 2), ("expect-continue", 2),  # the interim 100 Continue, then the answer
])
async def test_an_answer_with_a_content_length_takes_one_write(case: str, writes: int,
                                                                quiet_uvicorn_errors: None) -> None:
    counted = Writes()
    async with serving(OneWriteProtocol, counted) as port:
        await exchange(port, *CASES[case])
    assert counted.count == writes


async def test_uvicorn_writes_twice_where_ours_writes_once(quiet_uvicorn_errors: None) -> None:
    """The reference measure: the counting transport sees uvicorn's own two writes."""
    counted = Writes()
    async with serving(_plain_httptools(), counted) as port:
        await exchange(port, *CASES["json"])
    assert counted.count == 2


def _plain_httptools() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol
