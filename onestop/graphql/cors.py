"""Starlette's CORS middleware, with a short path for the requests that carry no ``Origin`` (every non-browser
caller, and the web app calling in process): they only get ``Vary: Origin``, added to the raw headers."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

_VARY = b"vary"


class ApiCORS(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                _vary_origin(message)
            await send(message)

        await self.app(scope, receive, send_with_vary)


def _vary_origin(message: Message) -> None:
    """``Vary`` as Starlette sets it without an ``Origin``: the values of every ``Vary`` header and ``Origin``, in
    one header at the place of the first (or last, when there was none)."""
    raw = message.get("headers", ())
    headers: list[tuple[bytes, bytes]] = raw if isinstance(raw, list) else list(raw)
    message["headers"] = headers
    found = [index for index, (name, _) in enumerate(headers) if name == _VARY]
    if not found:
        headers.append((_VARY, b"Origin"))
        return
    headers[found[0]] = (_VARY, b", ".join([*(headers[index][1] for index in found), b"Origin"]))
    for index in reversed(found[1:]):
        del headers[index]
