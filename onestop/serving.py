"""How the API process serves HTTP: one uvicorn configuration for ``serve``, ``api`` and the benchmarks, so that what
is measured is what runs.

uvicorn writes a response's head and its body in two writes: two system calls, and over TCP with no delay two
segments the client reads apart. ``OneWriteHttp`` is uvicorn's httptools protocol over a transport that holds a
small write until the next one, or until the event loop's turn ends: a head and its body leave in one write. It is
uvicorn's protocol class, given as its configuration allows (``Config(http=...)``); only the transport it writes to
is ours.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A response head is a few hundred bytes; a write this large goes out at once, as it came.
HELD_MAX = 16 * 1024


class HeldWrites:
    """A transport that holds a small write until the next write (both then leave as one) or the end of the event
    loop's turn, whichever comes first; everything else is the transport's own."""

    __slots__ = ("_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) > HELD_MAX:  # a large body is not copied to join its head: two writes
                self.transport.write(held)
                self.transport.write(data)
            else:
                self.transport.write(held + data)
        elif len(data) > HELD_MAX:
            self.transport.write(data)
        else:
            self._held = bytes(data)
            self._loop.call_soon(self._release)

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def flush(self) -> None:
        """Write what is held now."""
        self._release()

    def _release(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self._release()
        self.transport.close()

    def write_eof(self) -> None:
        self._release()
        self.transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class OneWriteHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through ``HeldWrites``: a response's head and body in one write."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, HeldWrites(cast(asyncio.Transport, transport), self.loop)))

    def eof_received(self) -> None:
        # The client has half-closed: the event loop closes the transport underneath as this returns (uvicorn's
        # answer), so what is held (a HEAD answer, a stream's last chunk) goes out first.
        cast(HeldWrites, self.transport).flush()
        return super().eof_received()


def api_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the API (``serve``, ``api``, and the benchmarks, which measure what they run)."""
    return uvicorn.Config(app, host=host, port=port, http=OneWriteHttp, log_level="warning", lifespan="off",
                          # Forwarded headers are resolved by the rate limiter, against ONESTOP_TRUSTED_PROXIES only.
                          proxy_headers=False,
                          # The app logs each request itself (``onestop.http``, by route template); uvicorn's own
                          # line, below the warning level anyway, would still format its arguments per answer.
                          access_log=False, **options)


__all__ = ["HeldWrites", "OneWriteHttp", "api_config"]
