"""Signing keys of an OIDC issuer, by ``kid``: fetched from its JWKS, cached, refreshed with a cooldown.

RFC 8725 habits: only asymmetric keys for the allowed algorithms are kept (a symmetric ``oct`` key in a
JWKS is never usable, so the "HS256 signed with the public key" trick has nothing to verify against);
a refresh that fails, or returns no usable key, keeps the keys already known so an IdP outage does not
log everybody out; an unknown ``kid`` triggers at most one fetch per cooldown so forged kids cannot
turn the API into a request storm against the IdP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

log = logging.getLogger(__name__)

DEFAULT_COOLDOWN_SECONDS = 30.0
DEFAULT_MAX_AGE_SECONDS = 3600.0
_MAX_JWKS_BYTES = 256 * 1024


class JwksError(Exception):
    """The key set could not be fetched or read; ``source`` names where from (never a secret)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"JWKS from {source}: {message}")
        self.source = source
        self.message = message


class JwksSource(Protocol):
    """Where a key set comes from."""

    @property
    def description(self) -> str: ...

    async def fetch(self) -> Mapping[str, Any]:
        """Return the JWKS document (``{"keys": [...]}``) or raise ``JwksError``."""
        ...


async def _get_json(client: httpx.AsyncClient, url: str, seconds: float, accept: str) -> dict[str, Any]:
    """GET a JSON object with bounded time and size and no redirects (a redirect could point anywhere)."""
    try:
        async with client.stream("GET", url, timeout=seconds, follow_redirects=False,
                                 headers={"Accept": accept}) as response:
            if response.status_code != 200:
                raise JwksError(url, f"HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > _MAX_JWKS_BYTES:
                    raise JwksError(url, f"larger than {_MAX_JWKS_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise JwksError(url, f"request failed: {type(exc).__name__}") from exc
    try:
        document = json.loads(bytes(body))
    except ValueError as exc:
        raise JwksError(url, "not JSON") from exc
    if not isinstance(document, dict):
        raise JwksError(url, "not a JSON object")
    return document


class HttpJwksSource:
    """A JWKS over HTTP(S) at a known URL."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._timeout = timeout

    @property
    def description(self) -> str:
        return self.url

    async def fetch(self) -> Mapping[str, Any]:
        return await _get_json(self._client, self.url, self._timeout, "application/jwk-set+json, application/json")

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()


class DiscoveredJwksSource(HttpJwksSource):
    """The JWKS named by the issuer's OIDC discovery document (``jwks_uri``), looked up on first fetch.

    The document's ``issuer`` must equal the configured issuer (OpenID Connect Discovery, section 4.3),
    so a misconfigured or spoofed discovery URL cannot substitute another issuer's keys.
    """

    def __init__(self, issuer: str, *, client: httpx.AsyncClient | None = None, timeout: float = 5.0) -> None:
        super().__init__("", client=client, timeout=timeout)
        self.issuer = issuer
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def description(self) -> str:
        return self.url or self.discovery_url

    async def fetch(self) -> Mapping[str, Any]:
        if not self.url:
            document = await _get_json(self._client, self.discovery_url, self._timeout, "application/json")
            if document.get("issuer") != self.issuer:
                raise JwksError(self.discovery_url, "its issuer differs from the configured issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise JwksError(self.discovery_url, "no http(s) jwks_uri")
            self.url = jwks_uri
        return await super().fetch()


class InProcessJwksSource:
    """Keys held by this process (the development IdP): no HTTP request to ourselves."""

    def __init__(self, provider: Callable[[], Mapping[str, Any]], description: str = "in-process") -> None:
        self._provider = provider
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    async def fetch(self) -> Mapping[str, Any]:
        return self._provider()


def parse_jwks(document: Mapping[str, Any], *, algorithms: Iterable[str], source: str) -> dict[str, PyJWK]:
    """Usable signing keys by kid. Keys without a kid, symmetric keys, encryption keys and keys for
    algorithms outside the allow-list are skipped."""
    allowed = set(algorithms)
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JwksError(source, 'no "keys" list')
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(entry)
        except (PyJWKError, ValueError, TypeError) as exc:
            log.warning("skipping unreadable JWKS key kid=%s from %s: %s", kid, source, type(exc).__name__)
            continue
        if key.algorithm_name not in allowed:
            continue
        keys[kid] = key
    return keys


class JwksCache:
    """Keys by kid with refresh on unknown kid (at most one fetch per ``cooldown``) and after ``max_age``."""

    def __init__(
        self,
        source: JwksSource,
        *,
        algorithms: Iterable[str],
        cooldown: float = DEFAULT_COOLDOWN_SECONDS,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._algorithms = tuple(algorithms)
        self._cooldown = cooldown
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._last_error: JwksError | None = None
        self._lock = asyncio.Lock()

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def last_error(self) -> JwksError | None:
        return self._last_error

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._cooldown

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= self._max_age

    async def get(self, kid: str) -> PyJWK | None:
        """The key for ``kid``, fetching the set when it is unknown or stale and the cooldown allows.

        Raises ``JwksError`` only when no key has ever been loaded (the issuer cannot be reached at all).
        """
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        # A fetch under way (the lock is held) answers a request for an unknown kid too: it waits for that fetch
        # instead of finding no key. A known key, even stale, answers at once: a slow or unreachable issuer must
        # not hold every request.
        if self._may_fetch() or (key is None and self._lock.locked()):
            async with self._lock:
                # Another request may have refreshed while this one waited for the lock.
                if self._may_fetch() and (kid not in self._keys or self._stale()):
                    await self._refresh()
        if not self._keys and self._last_error is not None:
            raise self._last_error
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch now, ignoring the cooldown (start-up warm-up, operator action)."""
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            try:
                document = await self.source.fetch()
                keys = parse_jwks(document, algorithms=self._algorithms, source=self.source.description)
            except JwksError:
                raise
            except Exception as exc:  # any source failure must leave the known keys in place
                raise JwksError(self.source.description, f"fetch failed: {type(exc).__name__}") from exc
            if not keys:
                raise JwksError(self.source.description, "no usable signing key")
        except JwksError as exc:
            self._last_error = exc
            log.warning("JWKS refresh failed, keeping %d known key(s): %s", len(self._keys), exc)
            return
        self._keys = keys
        self._loaded_at = self._attempted_at
        self._last_error = None
