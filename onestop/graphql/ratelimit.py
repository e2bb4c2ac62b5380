"""Per-caller request limits: a token bucket per caller, in memory, for POST /graphql and POST /dev-idp/token.

The caller is the verified token subject when the request carries a valid bearer token, else the client IP
(behind a proxy, set uvicorn's ``FORWARDED_ALLOW_IPS`` to the proxy's address so that is the real client).
Each process counts on its own, so N API replicas allow N times the rate: at scale a shared limiter in front
(the load balancer or API gateway) replaces this one, which then only guards a single process.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from onestop.config import Settings
from onestop.engine import NO_EVENTS, EventKind, EventSink, Principal
from onestop.graphql.errors import RateLimited, error_body

Clock = Callable[[], float]
Verify = Callable[[str], Awaitable[Principal]]

# Scope state key under which the limiter leaves the principal it verified, so the GraphQL context does not
# verify the same token twice.
VERIFIED_PRINCIPAL = "onestop.verified_principal"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """``burst`` requests at once per key, refilled at ``per_minute`` a minute (``burst`` defaults to that)."""

    def __init__(self, per_minute: int, burst: int | None = None, *, clock: Clock = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1 (turn the limit off by not installing it)")
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when a request by ``key`` may go ahead (it is counted), else the seconds until one may."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
            if len(self._buckets) > self.max_keys:
                # Bounded memory under many spoofed callers: forgetting the longest-idle caller only forgives it.
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.capacity, bucket.tokens + max(0.0, now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


@dataclass(frozen=True)
class Limit:
    """POST requests to ``path`` share ``buckets``; ``by_subject`` keys them by token subject when verified."""

    path: str
    buckets: TokenBuckets
    by_subject: bool


def limits_for(settings: Settings, *, clock: Clock = time.monotonic) -> list[Limit]:
    """The limits the settings turn on (a rate of 0 turns one off)."""
    limits = []
    if settings.rate_limit_per_minute:
        limits.append(Limit("/graphql", TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst,
                                                     clock=clock), by_subject=True))
    if settings.token_rate_limit_per_minute and settings.development:
        limits.append(Limit("/dev-idp/token", TokenBuckets(settings.token_rate_limit_per_minute, clock=clock),
                            by_subject=False))
    return limits


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


class RateLimit:
    """Answers 429 with ``Retry-After`` and a RATE_LIMITED GraphQL error once a caller's bucket is empty."""

    def __init__(self, app: ASGIApp, limits: Sequence[Limit], verify: Verify | None = None,
                 events: EventSink = NO_EVENTS) -> None:
        self.app = app
        self.events = events
        self.limits = {limit.path: limit for limit in limits}
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = None
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            limit = self.limits.get(path.removeprefix(root) if root else path)
        if limit is None:
            await self.app(scope, receive, send)
            return
        caller = await self._caller(scope, by_subject=limit.by_subject)
        wait = limit.buckets.take(caller)
        if wait > 0:
            client = scope.get("client")
            self.events.record(EventKind.RATE_LIMITED, ip=client[0] if client else None, path=limit.path,
                               by="subject" if caller.startswith("sub:") else "ip")
            seconds = max(1, math.ceil(wait))
            response = JSONResponse(error_body(RateLimited(seconds)), status_code=429,
                                    headers={"Retry-After": str(seconds)})
            await response(scope, receive, send)
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
                scope.setdefault("state", {})[VERIFIED_PRINCIPAL] = (token, principal)
                return f"sub:{principal.sub}"
        client = scope.get("client")
        return f"ip:{client[0] if client else 'unknown'}"
