"""Per-caller rate limits over real HTTP: 429 with Retry-After and RATE_LIMITED, per caller, refilled by the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from onestop.engine.container import Engine
from onestop.engine.limits import TokenBuckets
from onestop.graphql.app import create_app

QUERY = {"query": "{ __typename }"}
LOGIN = {"citizen": "wong-ka-fai", "acr": "urn:onestop:acr:standard"}
VIEWER = {"query": "{ viewer { sub } }"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now



@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def app_for(engine: Engine, clock: FakeClock, **settings: Any) -> Any:
    return create_app(engine.settings.model_copy(update=settings), engine, clock=clock)


@asynccontextmanager
async def client(app: Any, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://onestop.test") as http:
        yield http


async def token_for(http: httpx.AsyncClient, citizen: str) -> dict[str, str]:
    response = await http.post("/dev-idp/token", json={"citizen": citizen, "acr": "urn:onestop:acr:standard"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_refused(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    assert response.json() == {"errors": [{
        "message": f"Too many requests: wait {retry_after} s before retrying.",
        "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after},
    }]}


async def test_the_request_after_the_allowance_is_refused_with_429_and_retry_after(
        seed_engine: Engine, clock: FakeClock) -> None:
    async with client(app_for(seed_engine, clock, rate_limit_per_minute=3)) as http:
        for _ in range(3):
            assert (await http.post("/graphql", json=QUERY)).status_code == 200
        # 3 a minute refill one request every 20 s.
        assert_refused(await http.post("/graphql", json=QUERY), retry_after=20)


async def test_another_ip_is_not_affected(seed_engine: Engine, clock: FakeClock) -> None:
    app = app_for(seed_engine, clock, rate_limit_per_minute=2)
    async with client(app, "10.0.0.1") as first, client(app, "10.0.0.2") as second:
        for _ in range(2):
            assert (await first.post("/graphql", json=QUERY)).status_code == 200
        assert (await first.post("/graphql", json=QUERY)).status_code == 429
        assert (await second.post("/graphql", json=QUERY)).status_code == 200


async def test_authenticated_callers_are_counted_by_subject_not_by_ip(seed_engine: Engine, clock: FakeClock) -> None:
    app = app_for(seed_engine, clock, rate_limit_per_minute=2)
    async with client(app) as http:
        adult, elder = await token_for(http, "wong-ka-fai"), await token_for(http, "cheung-kwok-wing")
        for _ in range(2):
            assert (await http.post("/graphql", json=QUERY)).status_code == 200
        assert (await http.post("/graphql", json=QUERY)).status_code == 429  # the IP's bucket is empty
        for _ in range(2):
            response = await http.post("/graphql", json=VIEWER, headers=adult)
            assert response.status_code == 200
            assert response.json()["data"]["viewer"]["sub"]  # the limiter's verified principal serves the query
        assert (await http.post("/graphql", json=VIEWER, headers=adult)).status_code == 429
        assert (await http.post("/graphql", json=VIEWER, headers=elder)).status_code == 200


async def test_an_invalid_token_is_counted_by_ip_and_still_reported_as_unauthenticated(
        seed_engine: Engine, clock: FakeClock) -> None:
    app = app_for(seed_engine, clock, rate_limit_per_minute=2)
    bad = {"Authorization": "Bearer not-a-jwt"}
    async with client(app) as http:
        response = await http.post("/graphql", json=VIEWER, headers=bad)
        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await http.post("/graphql", json=QUERY)).status_code == 200
        assert (await http.post("/graphql", json=VIEWER, headers=bad)).status_code == 429


async def test_after_waiting_retry_after_the_caller_is_allowed_again(seed_engine: Engine, clock: FakeClock) -> None:
    async with client(app_for(seed_engine, clock, rate_limit_per_minute=6)) as http:
        for _ in range(6):
            assert (await http.post("/graphql", json=QUERY)).status_code == 200
        assert_refused(await http.post("/graphql", json=QUERY), retry_after=10)
        clock.now += 9
        assert_refused(await http.post("/graphql", json=QUERY), retry_after=1)
        clock.now += 1
        assert (await http.post("/graphql", json=QUERY)).status_code == 200
        assert (await http.post("/graphql", json=QUERY)).status_code == 429


async def test_burst_caps_requests_at_once_below_the_minute_rate(seed_engine: Engine, clock: FakeClock) -> None:
    async with client(app_for(seed_engine, clock, rate_limit_per_minute=60, rate_limit_burst=2)) as http:
        assert [(await http.post("/graphql", json=QUERY)).status_code for _ in range(3)] == [200, 200, 429]
        clock.now += 1
        assert (await http.post("/graphql", json=QUERY)).status_code == 200


async def test_dev_idp_token_requests_are_limited_by_ip(seed_engine: Engine, clock: FakeClock) -> None:
    app = app_for(seed_engine, clock, token_rate_limit_per_minute=2)
    async with client(app) as http, client(app, "10.0.0.9") as other:
        await token_for(http, "wong-ka-fai")
        await token_for(http, "wong-ka-fai")
        response = await http.post("/dev-idp/token", json=LOGIN)
        assert_refused(response, retry_after=30)
        await token_for(other, "wong-ka-fai")


async def test_zero_turns_the_limits_off(seed_engine: Engine, clock: FakeClock) -> None:
    app = app_for(seed_engine, clock, rate_limit_per_minute=0, token_rate_limit_per_minute=0)
    async with client(app) as http:
        statuses = {(await http.post("/graphql", json=QUERY)).status_code for _ in range(30)}
        assert statuses == {200}
        assert {(await http.post("/dev-idp/token", json=LOGIN)).status_code
                for _ in range(10)} == {200}


async def test_other_routes_and_methods_are_not_counted(seed_engine: Engine, clock: FakeClock) -> None:
    async with client(app_for(seed_engine, clock, rate_limit_per_minute=1)) as http:
        for _ in range(5):
            assert (await http.get("/healthz")).status_code == 200
        assert (await http.post("/graphql", json=QUERY)).status_code == 200
        assert (await http.post("/graphql", json=QUERY)).status_code == 429


def test_buckets_forget_the_longest_idle_caller_beyond_their_capacity() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(1, clock=clock, max_keys=2)
    assert buckets.take_now("a") == 0
    assert buckets.take_now("a") == pytest.approx(60)
    assert buckets.take_now("b") == 0
    assert buckets.take_now("c") == 0  # "a" is evicted, so its debt is forgotten
    assert buckets.take_now("a") == 0
    assert buckets.take_now("c") == pytest.approx(60)  # "c" was kept


def test_a_zero_rate_is_not_a_bucket() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        TokenBuckets(0)


def forwarded(*addresses: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(addresses)}


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(seed_engine: Engine, clock: FakeClock) -> None:
    """Varying X-Forwarded-For from a loopback client used to give each request a fresh bucket."""
    async with client(app_for(seed_engine, clock, rate_limit_per_minute=3)) as http:
        statuses = [(await http.post("/graphql", json=QUERY, headers=forwarded(f"198.51.100.{i}"))).status_code
                    for i in range(10)]
    assert statuses == [200, 200, 200] + [429] * 7


async def test_a_trusted_proxy_forwards_the_callers_address(seed_engine: Engine, clock: FakeClock) -> None:
    app = app_for(seed_engine, clock, rate_limit_per_minute=2, trusted_proxies=["10.0.0.0/24"])
    async with client(app, "10.0.0.5") as proxy:
        # The nearest untrusted address counts: a spoofed left-most entry is ignored.
        for _ in range(2):
            assert (await proxy.post("/graphql", json=QUERY,
                                     headers=forwarded("1.2.3.4", "203.0.113.9"))).status_code == 200
        assert (await proxy.post("/graphql", json=QUERY, headers=forwarded("5.6.7.8", "203.0.113.9"))).status_code \
            == 429
        assert (await proxy.post("/graphql", json=QUERY, headers=forwarded("203.0.113.10"))).status_code == 200
        # A chain of trusted proxies is walked past.
        assert (await proxy.post("/graphql", json=QUERY,
                                 headers=forwarded("203.0.113.11", "10.0.0.7"))).status_code == 200


def test_a_bad_trusted_proxy_setting_names_itself() -> None:
    from onestop.config import Settings

    with pytest.raises(ValueError, match="ONESTOP_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/33")


REVOKE_TWICE = {"query": """mutation {
  a: revokeConsent(input: {consentId: "x"}) { userErrors { code } }
  b: revokeConsent(input: {consentId: "y"}) { userErrors { code } }
  c: revokeConsent(input: {consentId: "z"}) { userErrors { code } }
}"""}


async def test_each_mutation_field_counts_against_the_caller(seed_engine: Engine, clock: FakeClock) -> None:
    async with client(app_for(seed_engine, clock, rate_limit_per_minute=4)) as http:
        first = await http.post("/graphql", json=REVOKE_TWICE)
        assert first.status_code == 200
        assert "RATE_LIMITED" not in first.text
        # Three of four tokens are spent; the next three-field request is refused before it runs.
        second = (await http.post("/graphql", json=REVOKE_TWICE)).json()
        assert [e["extensions"]["code"] for e in second["errors"]] == ["RATE_LIMITED"]
        assert second["data"] is None


async def test_a_request_carries_at_most_the_configured_mutation_fields(seed_engine: Engine,
                                                                        clock: FakeClock) -> None:
    many = "mutation { " + " ".join(f'm{i}: revokeConsent(input: {{consentId: "{i}"}}) {{ userErrors {{ code }} }}'
                                    for i in range(6)) + " }"
    async with client(app_for(seed_engine, clock, max_mutations_per_request=5)) as http:
        answer = (await http.post("/graphql", json={"query": many})).json()
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert "at most 5" in answer["errors"][0]["message"]
