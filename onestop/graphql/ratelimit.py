"""Per-caller request limits on POST /graphql and POST /dev-idp/token, and who the caller is.

The caller is the verified token subject when the request carries a valid bearer token, else the client IP. The
client IP is the connection's peer, or, when that peer is one of ``ONESTOP_TRUSTED_PROXIES``, the nearest address
in ``X-Forwarded-For`` that is not a trusted proxy: a forwarded header from anyone else is ignored, so a caller
cannot pick a fresh identity per request. On PostgreSQL the buckets live in the database and every replica shares
them (``onestop.engine.limits``).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from onestop.engine import NO_EVENTS, RATE_LIMITED, Buckets, EventKind, EventSink, Principal
from onestop.graphql.errors import RateLimited, error_body

Verify = Callable[[str], Awaitable[Principal]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Scope state keys: the principal the limiter verified (so the GraphQL context does not verify the same token
# twice), the caller's bucket key and the client IP (so per-mutation counting and anonymous budgets use them).
VERIFIED_PRINCIPAL = "onestop.verified_principal"
CALLER = "onestop.caller"
CLIENT_IP = "onestop.client_ip"


@dataclass(frozen=True)
class Limit:
    """POST requests to ``path`` share ``buckets``; ``by_subject`` keys them by token subject when verified."""

    path: str
    buckets: Buckets
    by_subject: bool


def trusted_networks(proxies: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def client_ip(scope: Scope, trusted: Sequence[Network]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy (then what it forwarded)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    # Right to left: each trusted proxy appended the address it saw; the first untrusted one is the caller.
    for address in reversed([a for a in forwarded if a]):
        if not _is_trusted(address, trusted):
            return address
    return peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


def refusal(seconds_to_wait: float) -> JSONResponse:
    """HTTP 429 with ``Retry-After`` and a RATE_LIMITED GraphQL error."""
    seconds = max(1, math.ceil(seconds_to_wait))
    return JSONResponse(error_body(RateLimited(seconds)), status_code=429, headers={"Retry-After": str(seconds)})


class RateLimit:
    """Counts each limited POST against its caller's bucket; a refusal is ``refusal(...)``."""

    def __init__(self, app: ASGIApp, limits: Sequence[Limit], trusted: Sequence[Network] = (),
                 verify: Verify | None = None, events: EventSink = NO_EVENTS) -> None:
        self.app = app
        self.events = events
        self.limits = {limit.path: limit for limit in limits}
        self.trusted = tuple(trusted)
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[CLIENT_IP] = client_ip(scope, self.trusted)
        limit = None
        if scope["method"] == "POST":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            limit = self.limits.get(path.removeprefix(root) if root else path)
        if limit is None:
            await self.app(scope, receive, send)
            return
        caller = await self._caller(scope, by_subject=limit.by_subject)
        state[CALLER] = (limit.buckets, caller)
        wait = await limit.buckets.take(caller)
        if wait > 0:
            RATE_LIMITED.labels(limit.path).inc()
            self.events.record(EventKind.RATE_LIMITED, ip=state[CLIENT_IP], path=limit.path,
                               by="subject" if caller.startswith("sub:") else "ip")
            await refusal(wait)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _caller(self, scope: Scope, *, by_subject: bool) -> str:
        token = _bearer(scope) if by_subject and self.verify is not None else None
        if token is not None and self.verify is not None:
            try:
                principal = await self.verify(token)
            except Exception:  # the GraphQL layer reports the bad token; here the request counts by IP
                principal = None
            if isinstance(principal, Principal):
                scope["state"][VERIFIED_PRINCIPAL] = (token, principal)
                return f"sub:{principal.sub}"
        return f"ip:{scope['state'][CLIENT_IP]}"
