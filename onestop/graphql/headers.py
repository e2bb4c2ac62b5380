"""Security headers on every HTTP response, as a pure ASGI middleware any Starlette app can add.

``Starlette(middleware=[Middleware(SecurityHeaders, hsts=not settings.development)])``. Add it outermost, so
refusals made by other middleware (413, 429) carry the headers too. A response that sets a header itself keeps
its value (the JWKS is publicly cacheable, a page may need its own policy); only an HTML page's missing
``frame-ancestors`` is always added, so no page can be framed (clickjacking).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Same-origin files only: no inline script or style, no eval, no third-party origin, no framing.
STRICT_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# JSON answers are never rendered as documents; if a browser is tricked into it, nothing may load.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """``nosniff``, ``no-referrer``, ``no-store`` (answers carry personal data), a CSP, and HSTS when ``hsts``."""

    def __init__(self, app: ASGIApp, *, hsts: bool, page_policy: str = STRICT_PAGE_POLICY) -> None:
        self.app = app
        self.hsts = hsts
        self.page_policy = page_policy
        # Encoded once: every answer gets them, unless it set a header of the same name itself.
        fixed = [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"),
                 ("cache-control", "no-store"), ("x-frame-options", "DENY"),
                 *([("strict-transport-security", HSTS)] if hsts else [])]
        self._fixed = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in fixed)
        self._api_policy = (b"content-security-policy", API_POLICY.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(message)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, message: Message) -> None:
        raw = message.get("headers", ())
        headers: list[tuple[bytes, bytes]] = raw if isinstance(raw, list) else list(raw)
        message["headers"] = headers
        # As MutableHeaders.setdefault, which compares the lower-cased name with the names as given.
        present = {name for name, _ in headers}
        headers.extend(pair for pair in self._fixed if pair[0] not in present)
        content_type = next((value for name, value in headers if name == b"content-type"), b"")
        if not content_type.startswith(b"text/html"):
            if self._api_policy[0] not in present:
                headers.append(self._api_policy)
            return
        mutable = MutableHeaders(scope=message)
        policy = mutable.get("content-security-policy")
        if policy is None:
            mutable["Content-Security-Policy"] = self.page_policy
        elif "frame-ancestors" not in policy:
            mutable["Content-Security-Policy"] = policy.rstrip("; ") + "; frame-ancestors 'none'"
