"""Headers on every response of the web app: a strict CSP (no inline script or style), no framing."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(issuer: str) -> str:
    parts = urlsplit(issuer)
    # Forms post only here; the sign-in redirect after a POST (step-up) goes to the identity provider.
    idp = f" {parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'{idp}; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, issuer: str, secure: bool) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": content_security_policy(issuer),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        }
        if secure:
            self.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
