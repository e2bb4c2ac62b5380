"""How the processes serve HTTP: uvicorn's options, and an HTTP/1.1 protocol that sends a response in one write.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``, and its body in a
second write: two system calls and two TCP segments per answer. The ASGI
spec lets a server hold the head until the first body event ("protocol servers need not flush the data generated
by this event to the send buffer until the first Response Body event is processed"), so ``OneWriteProtocol``
holds it and writes head and first body chunk together. Responses without a ``Content-Length`` (streamed, chunked)
keep uvicorn's own behaviour: their head goes out at once, since a streaming client may wait for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, holding a ``Content-Length`` response's head for its body."""

    _held: _Capture | None = None  # the head uvicorn wrote at the start message, until the body comes

    async def run_asgi(self, app: ASGI3Application) -> None:
        async def flushing(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
            try:
                await app(scope, receive, send)
            finally:
                # An app that fails or returns after its start message: the head goes out as uvicorn would
                # have sent it, before uvicorn closes the connection.
                self._flush()

        await super().run_asgi(flushing)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.flush()

    async def send(self, message: ASGISendEvent) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if (message["type"] != "http.response.body" or self.scope["method"] == "HEAD"
                    or self.flow.write_paused):
                held.flush()  # uvicorn's own path, with the head already out
                await super().send(message)
                return
            await self._through(held, message)  # uvicorn's checks; its body write joins the head
            return
        if self.response_started or self.disconnected or message["type"] != "http.response.start":
            await super().send(message)
            return
        if self.flow.write_paused:
            await self.flow.drain()
        capture = _Capture(self.transport)
        await self._through(capture, message, flush=False)
        if self.chunked_encoding is False:
            self._held = capture
        else:
            capture.flush()

    async def _through(self, capture: _Capture, message: ASGISendEvent, *, flush: bool = True) -> None:
        """uvicorn's ``send`` with ``capture`` standing in for the transport (it does not wait: any
        back-pressure was waited for before)."""
        self.transport = capture  # type: ignore[assignment]
        try:
            await super().send(message)
        except BaseException:
            capture.flush()  # what uvicorn had written before its error (a body not matching its length)
            raise
        finally:
            self.transport = capture.transport
        if flush:
            capture.flush()


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses with a ``Content-Length`` take one write."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # uvicorn builds its cycle by class name; ours only overrides methods and adds no state beyond a class
        # default, so the instance can take its class (before its run_asgi is looked up, just below).
        if type(cycle) is RequestResponseCycle:
            cycle.__class__ = _OneWriteCycle
        super()._start_asgi_task(cycle, app)


class _Capture:
    """Stands in for the transport while uvicorn's ``send`` runs: keeps what it writes until ``flush``; a close
    (after a ``Connection: close`` answer) flushes first, so the bytes and the close keep uvicorn's order."""

    __slots__ = ("chunks", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def flush(self) -> None:
        chunks, self.chunks = self.chunks, []
        if not chunks or self.transport.is_closing():
            return
        if len(chunks) == 1:
            self.transport.write(chunks[0])
        elif sum(map(len, chunks)) <= _JOIN_LIMIT:
            self.transport.write(b"".join(chunks))
        else:  # two buffers of one write: no copy of a large body
            self.transport.writelines(chunks)


# Up to this, head and body are joined into one buffer (cheaper than the kernel's gather for small answers).
_JOIN_LIMIT = 16_384


def api_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the API (``serve``, ``api``, and the benchmarks, which measure what they run)."""
    return uvicorn.Config(app, host=host, port=port, http=OneWriteProtocol, log_level="warning", lifespan="off",
                          # Forwarded headers are resolved by the rate limiter, against ONESTOP_TRUSTED_PROXIES only.
                          proxy_headers=False,
                          # The app logs each request itself (``onestop.http``, by route template); uvicorn's own
                          # line, below the warning level anyway, would still format its arguments per answer.
                          access_log=False, **options)


__all__ = ["OneWriteProtocol", "api_config"]
