"""Rate-limit buckets shared through PostgreSQL: replicas spend one allowance, never one each."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database
from onestop.engine.limits import SqlTokenBuckets, TokenBuckets, build_limits


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def shared_db(postgres_schema: Database | None) -> Database:
    if postgres_schema is None:
        pytest.skip("PostgreSQL not reachable (see tests/engine/conftest.py)")
    async with postgres_schema.session() as session:
        await session.execute(text("DELETE FROM rate_limit_buckets"))
    return postgres_schema


async def test_two_replicas_share_one_allowance(shared_db: Database, cipher: FieldCipher) -> None:
    clock = Clock()
    first = SqlTokenBuckets(shared_db, cipher, "api", 3, clock=clock)
    second = SqlTokenBuckets(shared_db, cipher, "api", 3, clock=clock)
    waits = [await bucket.take("ip:203.0.113.7") for bucket in (first, second, first, second)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(20)  # a token every 20 s at 3 a minute
    clock.now += 20
    assert await second.take("ip:203.0.113.7") == 0


async def test_concurrent_takes_never_spend_more_than_the_allowance(shared_db: Database, cipher: FieldCipher) -> None:
    replicas = [SqlTokenBuckets(shared_db, cipher, "api", 10, clock=Clock()) for _ in range(4)]
    waits = await asyncio.gather(*(replicas[i % 4].take("sub:someone") for i in range(40)))
    assert sum(1 for wait in waits if wait == 0) == 10


async def test_a_take_of_several_counts_them_all(shared_db: Database, cipher: FieldCipher) -> None:
    buckets = SqlTokenBuckets(shared_db, cipher, "api", 5, clock=Clock())
    assert await buckets.take("k", 4) == 0
    assert await buckets.take("k", 2) > 0  # only one left: nothing is spent
    assert await buckets.take("k", 1) == 0


async def test_keys_are_stored_as_keyed_hashes(shared_db: Database, cipher: FieldCipher) -> None:
    await SqlTokenBuckets(shared_db, cipher, "api", 5).take("ip:198.51.100.23")
    async with shared_db.session() as session:
        keys = [row[0] for row in await session.execute(text("SELECT key FROM rate_limit_buckets"))]
    assert len(keys) == 1
    assert "198.51.100.23" not in keys[0]


async def test_sqlite_keeps_buckets_in_the_process(database: Database, cipher: FieldCipher) -> None:
    limits = build_limits(shared=database.shared, database=database, cipher=cipher, api_per_minute=60,
                          api_burst=None, token_per_minute=0, anonymous_per_ip_per_hour=30,
                          anonymous_per_service_per_hour=0)
    expected = SqlTokenBuckets if database.engine.dialect.name == "postgresql" else TokenBuckets
    assert isinstance(limits.api, expected)
    assert limits.token_requests is None
    assert limits.anonymous_starts_by_service is None
    assert isinstance(limits.anonymous_starts_by_ip, expected)


def test_an_hourly_allowance_is_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(2 / 60, 2, clock=clock)  # 2 an hour
    assert [buckets.take_now("ip") for _ in range(2)] == [0, 0]
    assert buckets.take_now("ip") == pytest.approx(1800)
