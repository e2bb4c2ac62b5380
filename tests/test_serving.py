"""The API's uvicorn configuration (``onestop.serving``): a response's head and body leave in one write, and nothing
an HTTP client sees changes (keep-alive, 100-continue, large bodies, closing)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onestop.serving import HELD_MAX, HeldWrites, OneWriteHttp, api_config


class Recorded:
    """A transport that records what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_a_head_and_its_body_leave_in_one_write() -> None:
    recorded = Recorded()
    held = HeldWrites(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert recorded.writes == []
    held.write(b"body")
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    await asyncio.sleep(0)
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]  # nothing left to release


async def test_a_lone_write_leaves_when_the_loop_turn_ends_and_a_large_one_at_once() -> None:
    recorded = Recorded()
    held = HeldWrites(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    assert recorded.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    large = b"x" * (HELD_MAX + 1)
    held.write(large)
    assert recorded.writes[-1] == large


async def test_a_large_body_after_a_held_head_is_written_as_it_came_not_copied_onto_it() -> None:
    recorded = Recorded()
    held = HeldWrites(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
    large = b"x" * (HELD_MAX + 1)
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.write(large)
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\n\r\n", large]


async def test_closing_writes_what_is_held_first_and_the_rest_is_the_transports() -> None:
    recorded = Recorded()
    held = HeldWrites(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"head")
    held.close()
    assert recorded.writes == [b"head"]
    assert recorded.closed
    await asyncio.sleep(0)  # the scheduled release finds nothing
    assert recorded.writes == [b"head"]
    assert held.get_extra_info("peername") == ("127.0.0.1", 1)
    held.write(b"late")
    await asyncio.sleep(0)
    assert recorded.writes == [b"head"], "a write to a closed transport is dropped, as the connection is gone"


def test_the_api_runs_uvicorns_httptools_protocol_through_held_writes() -> None:
    config = api_config(Starlette(), host="127.0.0.1", port=0)
    config.load()
    assert config.http_protocol_class is OneWriteHttp


@contextlib.asynccontextmanager
async def _served() -> AsyncIterator[int]:
    import uvicorn

    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(body or b"x" * (HELD_MAX * 3), media_type="application/octet-stream")

    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])
    server = uvicorn.Server(api_config(app, host="127.0.0.1", port=0))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await serving


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


async def test_over_http_answers_keep_alive_large_and_after_100_continue() -> None:
    async with _served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for body in (b"one", b"two"):  # one kept-alive connection
                writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                head, answered = await _answer(reader)
                assert head.startswith(b"HTTP/1.1 200 ")
                assert answered == body
            writer.write(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            head, answered = await _answer(reader)
            assert answered == b"x" * (HELD_MAX * 3)
            # The client waits for the interim answer before it sends its body.
            writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert interim.startswith(b"HTTP/1.1 100 ")
            writer.write(b"hello")
            head, answered = await _answer(reader)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert answered == b"hello"
            writer.write(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            head, _ = await _answer(reader)
            assert b"connection: close" in head.lower()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed once answered
        finally:
            writer.close()


async def test_a_client_that_half_closes_after_its_request_still_gets_the_answer() -> None:
    # ``nc -N`` and some health checkers send their request and then their FIN: the event loop closes the transport
    # once uvicorn has seen the end, so a held answer (a HEAD answer is a lone head) must leave before.
    async with _served() as port:
        for method in (b"HEAD", b"GET", b"POST"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(method + b" /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                writer.write_eof()
                answer = await asyncio.wait_for(reader.read(), 10)
            finally:
                writer.close()
            assert answer.startswith(b"HTTP/1.1 200 "), (method, answer[:80])
