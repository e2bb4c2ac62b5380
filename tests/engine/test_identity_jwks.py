"""The JWKS cache against a real HTTP key server on 127.0.0.1: refresh on unknown kid, cooldown, outages."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from onestop.config import Settings
from onestop.engine.dev.idp import DevSigningKey
from onestop.engine.identity.jwks import DiscoveredJwksSource, HttpJwksSource, JwksCache
from onestop.engine.identity.tokens import AuthenticationError, AuthFailure, TokenVerifier

ISSUER = "https://idp.example"
AUDIENCE = "onestop"


class KeyServer:
    """A JWKS endpoint whose answer the test controls; counts the fetches it serves."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.redirect_to: str | None = None
        self.fetches = 0
        self.discovery: dict[str, Any] = {}
        self.padding = 0
        self.delay = 0.0  # seconds each key-set answer takes
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/openid-configuration"):
                    self._json(200, json.dumps(server.discovery).encode())
                    return
                with server._lock:
                    server.fetches += 1
                time.sleep(server.delay)
                if server.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", server.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                document = {"keys": server.keys, "padding": "x" * server.padding}
                self._json(server.status, json.dumps(document).encode() if server.status == 200 else b"oops")

            def _json(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{self.origin}/jwks.json"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def publish(self, *keys: DevSigningKey) -> None:
        self.keys = [jwk for key in keys for jwk in key.jwks()["keys"]]

    def __enter__(self) -> KeyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server() -> Iterator[KeyServer]:
    with KeyServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def verifier(server: KeyServer, clock: FakeClock) -> Any:
    source = HttpJwksSource(server.url, timeout=2.0)
    cache = JwksCache(source, algorithms=("EdDSA", "ES256", "RS256"), cooldown=30, max_age=3600, clock=clock)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=cache)
    yield verifier
    await verifier.aclose()


def token(key: DevSigningKey, **extra: Any) -> str:
    now = int(time.time())
    return key.sign({"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + 600,
                     "auth_time": now, "acr": "urn:onestop:acr:basic", **extra})


async def test_keys_are_fetched_once_and_cached(server: KeyServer, verifier: TokenVerifier) -> None:
    key = DevSigningKey.generate()
    server.publish(key)
    for _ in range(5):
        await verifier.verify(token(key))
    assert server.fetches == 1


async def test_unknown_kid_triggers_one_refresh_that_finds_a_rotated_key(
    server: KeyServer, verifier: TokenVerifier, clock: FakeClock
) -> None:
    old, new = DevSigningKey.generate(), DevSigningKey.generate()
    server.publish(old)
    await verifier.verify(token(old))
    server.publish(old, new)
    clock.advance(31)
    principal = await verifier.verify(token(new))
    assert principal.sub == "s"
    assert server.fetches == 2


async def test_requests_arriving_during_the_first_fetch_wait_for_it(server: KeyServer,
                                                                      verifier: TokenVerifier) -> None:
    # A burst of requests at start-up: the first fetches the keys, the others wait for that fetch instead of
    # finding no key (a refusal as unknown_kid of every valid token but the first; the applications bench hit it).
    key = DevSigningKey.generate()
    server.publish(key)
    principals = await asyncio.gather(*(verifier.verify(token(key)) for _ in range(8)))
    assert [p.sub for p in principals] == ["s"] * 8
    assert server.fetches == 1


async def test_a_known_stale_key_answers_at_once_while_a_slow_refresh_is_under_way(
    server: KeyServer, verifier: TokenVerifier, clock: FakeClock
) -> None:
    # Only an unknown kid waits for a fetch under way; a slow or unreachable issuer must not hold every request.
    key = DevSigningKey.generate()
    server.publish(key)
    await verifier.verify(token(key))
    clock.advance(3601)  # the set is stale: the next request refreshes it
    server.delay = 2.0
    # Each token its own (a jti): a token verified before is answered from the verifier's cache, not the keys.
    refreshing = asyncio.create_task(verifier.verify(token(key, jti="first")))
    for _ in range(500):
        if server.fetches == 2:
            break
        await asyncio.sleep(0.01)
    assert server.fetches == 2
    started = time.monotonic()
    principals = await asyncio.gather(*(verifier.verify(token(key, jti=str(n))) for n in range(8)))
    assert time.monotonic() - started < 1.0
    assert not refreshing.done()
    assert [p.sub for p in principals] == ["s"] * 8
    assert (await refreshing).sub == "s"
    assert server.fetches == 2


async def test_cooldown_prevents_a_refresh_storm_of_unknown_kids(
    server: KeyServer, verifier: TokenVerifier, clock: FakeClock
) -> None:
    known = DevSigningKey.generate()
    server.publish(known)
    await verifier.verify(token(known))
    clock.advance(31)
    forged = [token(DevSigningKey.generate()) for _ in range(25)]
    results = await asyncio.gather(*(verifier.verify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, AuthenticationError) and r.reason is AuthFailure.UNKNOWN_KID for r in results)
    assert server.fetches == 2  # the first load, then one refresh for the whole burst
    clock.advance(10)
    for t in forged[:5]:
        with pytest.raises(AuthenticationError):
            await verifier.verify(t)
    assert server.fetches == 2  # still inside the cooldown: no more requests to the IdP
    clock.advance(25)
    with pytest.raises(AuthenticationError):
        await verifier.verify(forged[0])
    assert server.fetches == 3


async def test_failed_refresh_keeps_known_keys(server: KeyServer, verifier: TokenVerifier,
                                               clock: FakeClock) -> None:
    known = DevSigningKey.generate()
    server.publish(known)
    await verifier.verify(token(known))
    server.status = 500
    clock.advance(31)
    with pytest.raises(AuthenticationError) as info:
        await verifier.verify(token(DevSigningKey.generate()))
    assert info.value.reason is AuthFailure.UNKNOWN_KID
    assert server.fetches == 2
    clock.advance(4000)  # past max_age: a stale set is refreshed, the refresh fails, the known key stays
    assert (await verifier.verify(token(known, jti="a-new-token"))).sub == "s"
    assert server.fetches == 3
    assert verifier.keys.last_error is not None


async def test_refresh_returning_no_usable_key_keeps_known_keys(server: KeyServer, verifier: TokenVerifier,
                                                                clock: FakeClock) -> None:
    known = DevSigningKey.generate()
    server.publish(known)
    await verifier.verify(token(known))
    server.keys = [{"kty": "oct", "kid": "x", "k": "c2VjcmV0"}]
    clock.advance(31)
    with pytest.raises(AuthenticationError):
        await verifier.verify(token(DevSigningKey.generate()))
    assert (await verifier.verify(token(known))).sub == "s"


async def test_unreachable_issuer_is_reported_as_keys_unavailable(server: KeyServer,
                                                                  verifier: TokenVerifier) -> None:
    server.status = 503
    with pytest.raises(AuthenticationError) as info:
        await verifier.verify(token(DevSigningKey.generate()))
    assert info.value.reason is AuthFailure.KEYS_UNAVAILABLE
    assert "unavailable" in info.value.message


async def test_redirects_from_the_jwks_url_are_not_followed(server: KeyServer, verifier: TokenVerifier) -> None:
    key = DevSigningKey.generate()
    server.publish(key)
    server.redirect_to = server.url + "?elsewhere"
    with pytest.raises(AuthenticationError) as info:
        await verifier.verify(token(key))
    assert info.value.reason is AuthFailure.KEYS_UNAVAILABLE
    assert server.fetches == 1


async def test_oversized_jwks_is_refused(server: KeyServer, verifier: TokenVerifier) -> None:
    key = DevSigningKey.generate()
    server.publish(key)
    server.padding = 300 * 1024
    with pytest.raises(AuthenticationError) as info:
        await verifier.verify(token(key))
    assert info.value.reason is AuthFailure.KEYS_UNAVAILABLE
    assert "larger than" in str(verifier.keys.last_error)


async def test_keys_are_found_through_the_issuers_discovery_document(server: KeyServer) -> None:
    key = DevSigningKey.generate()
    server.publish(key)
    server.discovery = {"issuer": server.origin, "jwks_uri": server.url}
    settings = Settings(oidc_issuer=server.origin, oidc_audience=AUDIENCE)
    verifier = TokenVerifier.for_settings(settings)
    try:
        assert isinstance(verifier.keys.source, DiscoveredJwksSource)
        now = int(time.time())
        principal = await verifier.verify(key.sign({
            "iss": server.origin, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + 600,
            "auth_time": now, "acr": "urn:onestop:acr:basic"}))
        assert principal.sub == "s"
        assert server.fetches == 1
    finally:
        await verifier.aclose()


async def test_discovery_document_naming_another_issuer_is_refused(server: KeyServer) -> None:
    key = DevSigningKey.generate()
    server.publish(key)
    server.discovery = {"issuer": "https://evil.example", "jwks_uri": server.url}
    source = DiscoveredJwksSource(server.origin)
    verifier = TokenVerifier.from_source(source, issuer=server.origin, audience=AUDIENCE)
    try:
        with pytest.raises(AuthenticationError) as info:
            await verifier.verify(token(key))
        assert info.value.reason is AuthFailure.KEYS_UNAVAILABLE
        assert server.fetches == 0
    finally:
        await verifier.aclose()
