"""The load driver's HTTP/1.1 client (bench/applications.py ``drive``): keep-alive connections, one request at a time
on each, as browsers make them.

The driver stands in for the citizens' browsers, which are not on the server's machine, yet it runs on the server's
cores, so it is kept light: a request is one write and its answer a few httptools callbacks (the parser uvicorn
serves with), without a general client's per-request machinery (cookies, redirects, hooks, streams, a task per
body). Per application (9 requests) it costs the driver about 2 ms of CPU in the bench; aiohttp's client cost 4.5
and httpx 14 on the same machine.

Standard library and httptools only, so the driver process starts light.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

Target = tuple[str, int, str]  # host, port, path

# What every request says besides its own headers: httpx's defaults, which the driver sent before, but for the user
# agent, which names the bench. (uvicorn compresses nothing, yet a compressed answer would be read.)
COMMON_HEADERS = ("Accept: */*", "Accept-Encoding: gzip, deflate", "Connection: keep-alive",
                  "User-Agent: onestop-bench")


class HttpError(Exception):
    """A request got no answer: the connection failed, the answer could not be read, or none came in time."""


def target(url: str) -> Target:
    """``http://host:port/path`` as the client takes it, split once."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise HttpError(f"only plain HTTP to a host is spoken: {url!r}")
    return parts.hostname, parts.port or 80, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class Http:
    """Keep-alive HTTP/1.1 connections by host and port; a request takes an idle one or opens one. A failed
    connection, an unreadable answer or none within ``timeout`` seconds is an HttpError."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.idle: dict[tuple[str, int], list[_Connection]] = {}

    async def request(self, method: str, to: Target, headers: Mapping[str, str], body: bytes | None = None
                      ) -> tuple[int, bytes]:
        """The status and body of the answer to ``method`` ``to`` (with a JSON ``body`` when given)."""
        host, port, path = to
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *COMMON_HEADERS,
                 *(f"{name}: {value}" for name, value in headers.items())]
        if body is not None:
            lines += [f"Content-Length: {len(body)}", "Content-Type: application/json"]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        idle = self.idle.setdefault((host, port), [])
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeout):
                while idle and connection is None:  # an idle connection the server has closed since is dropped
                    candidate = idle.pop()
                    connection = candidate if candidate.reusable else None
                if connection is None:
                    _, connection = await asyncio.get_running_loop().create_connection(_Connection, host, port)
                answer = await connection.exchange(request)
        except BaseException as exc:
            if connection is not None:  # cancelled or failed half-way: its answer may still come, so it goes
                connection.close()
            if isinstance(exc, (OSError, TimeoutError, httptools.HttpParserError)):
                raise HttpError(f"{method} http://{host}:{port}{path}: {exc!r}") from exc
            raise
        if connection.reusable:
            idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        for connections in self.idle.values():
            for connection in connections:
                connection.close()
        self.idle.clear()


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, written whole; its answer parsed by httptools."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.encoding = b""
        self.reusable = True

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.transport is None or not self.reusable:
            raise ConnectionResetError("the connection is closed")
        self.body, self.encoding = [], b""
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self.answer
        finally:
            self.answer = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:  # also an exception raised in a callback below
            self._settle(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._settle(exc or ConnectionResetError("the server closed the connection"))

    def _settle(self, exc: BaseException) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-encoding":
            self.encoding = value.strip().lower()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        body = b"".join(self.body)
        if self.encoding not in (b"", b"identity"):  # gzip or deflate, which the requests accept
            body = zlib.decompress(body, zlib.MAX_WBITS | 32)
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((self.parser.get_status_code(), body))
