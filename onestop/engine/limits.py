"""Rate limits as token buckets: in memory for one process, or in PostgreSQL so every replica shares them.

A bucket holds ``burst`` tokens and refills at ``per_minute`` a minute; each counted action takes one. Keys
are pseudonymous: the platform never stores a client IP or a subject in clear in the limits table.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Float, String, bindparam, text

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database

Clock = Callable[[], float]


class Buckets(Protocol):
    async def take(self, key: str, count: int = 1) -> float:
        """0 when ``count`` actions by ``key`` may go ahead (they are counted), else the seconds until they may."""
        ...


def _rate_and_capacity(per_minute: float, burst: int | None) -> tuple[float, float]:
    if per_minute <= 0:
        raise ValueError("per_minute must be above 0 (turn the limit off by not installing it)")
    return per_minute / 60.0, float(burst or max(1, math.ceil(per_minute)))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets in this process's memory: exact for one process, N times the rate with N replicas."""

    def __init__(self, per_minute: float, burst: int | None = None, *, clock: Clock = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.rate, self.capacity = _rate_and_capacity(per_minute, burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take_now(self, key: str, count: int = 1) -> float:
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
        if bucket.tokens >= count:
            bucket.tokens -= count
            return 0.0
        return (count - bucket.tokens) / self.rate

    async def take(self, key: str, count: int = 1) -> float:
        return self.take_now(key, count)


# One atomic statement per action, so concurrent replicas never both spend the last token. The refill is
# computed from the database's clock: replicas' clocks may differ, the database's is one.
_TAKE = text("""
INSERT INTO rate_limit_buckets (key, tokens, updated, allowed)
VALUES (:key, :capacity - :count, COALESCE(:now, EXTRACT(EPOCH FROM clock_timestamp())), :capacity >= :count)
ON CONFLICT (key) DO UPDATE SET
  allowed = LEAST(:capacity, rate_limit_buckets.tokens + GREATEST(0,
              COALESCE(:now, EXTRACT(EPOCH FROM clock_timestamp())) - rate_limit_buckets.updated) * :rate) >= :count,
  tokens = LEAST(:capacity, rate_limit_buckets.tokens + GREATEST(0,
              COALESCE(:now, EXTRACT(EPOCH FROM clock_timestamp())) - rate_limit_buckets.updated) * :rate)
           - CASE WHEN LEAST(:capacity, rate_limit_buckets.tokens + GREATEST(0,
              COALESCE(:now, EXTRACT(EPOCH FROM clock_timestamp())) - rate_limit_buckets.updated) * :rate) >= :count
             THEN :count ELSE 0 END,
  updated = COALESCE(:now, EXTRACT(EPOCH FROM clock_timestamp()))
RETURNING tokens, allowed
""").bindparams(bindparam("key", type_=String), bindparam("capacity", type_=Float), bindparam("count", type_=Float),
                bindparam("rate", type_=Float), bindparam("now", type_=Float))
_FORGET = text("DELETE FROM rate_limit_buckets WHERE updated < COALESCE(:now, EXTRACT(EPOCH FROM clock_timestamp()))"
               " - :idle").bindparams(bindparam("now", type_=Float), bindparam("idle", type_=Float))


class SqlTokenBuckets:
    """Buckets in the ``rate_limit_buckets`` table of PostgreSQL: one limit across every API replica."""

    def __init__(self, database: Database, cipher: FieldCipher, name: str, per_minute: float,
                 burst: int | None = None, *, clock: Clock | None = None) -> None:
        self.database = database
        self.cipher = cipher
        self.name = name
        self.rate, self.capacity = _rate_and_capacity(per_minute, burst)
        self.clock = clock  # tests only; None reads the database's clock
        self._last_sweep = 0.0

    async def take(self, key: str, count: int = 1) -> float:
        params = {"key": self.cipher.pseudonym(f"rate-limit:{self.name}", key), "capacity": self.capacity,
                  "rate": self.rate, "count": float(count), "now": self.clock() if self.clock else None}
        async with self.database.session() as session:
            row = (await session.execute(_TAKE, params)).one()
        await self._sweep()
        tokens, allowed = float(row[0]), bool(row[1])
        return 0.0 if allowed else max((count - tokens) / self.rate, 1e-3)

    async def _sweep(self) -> None:
        # A bucket idle long enough to be full again says nothing: forget it, so the table stays small.
        now = time.monotonic()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        idle = math.ceil(self.capacity / self.rate) + 60
        async with self.database.session() as session:
            await session.execute(_FORGET, {"now": self.clock() if self.clock else None, "idle": idle})


@dataclass(frozen=True)
class Limits:
    """The engine's shared limits: per caller on the API, per IP on token requests, and anonymous starts."""

    api: Buckets | None
    token_requests: Buckets | None
    anonymous_starts_by_ip: Buckets | None
    anonymous_starts_by_service: Buckets | None


def build_limits(*, shared: bool, database: Database, cipher: FieldCipher, api_per_minute: int,
                 api_burst: int | None, token_per_minute: int, anonymous_per_ip_per_hour: int,
                 anonymous_per_service_per_hour: int, clock: Clock = time.monotonic) -> Limits:
    """Buckets for each limit the settings turn on (a rate of 0 turns one off); ``shared`` keeps them in SQL."""

    def buckets(name: str, per_minute: float, burst: int | None = None) -> Buckets | None:
        if per_minute <= 0:
            return None
        if shared:
            return SqlTokenBuckets(database, cipher, name, per_minute, burst)
        return TokenBuckets(per_minute, burst, clock=clock)

    return Limits(
        api=buckets("api", api_per_minute, api_burst),
        token_requests=buckets("token", token_per_minute),
        # An hourly limit keeps its hour's allowance as the burst.
        anonymous_starts_by_ip=buckets("anon-ip", anonymous_per_ip_per_hour / 60.0, anonymous_per_ip_per_hour),
        anonymous_starts_by_service=buckets("anon-service", anonymous_per_service_per_hour / 60.0,
                                            anonymous_per_service_per_hour),
    )
