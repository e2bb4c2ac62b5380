"""Serves the latest parsed value of every public information feed, per language.

Local files (the embedded default) are read at start; HTTP sources are fetched at start and then every
``refresh``. A failed fetch or parse never replaces a good value: the last good one keeps being served, marked
stale, with the error and its time recorded for operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from onestop.catalogue.feeds import FeedDefinition, FeedFormatError, FeedKind, FeedsConfig, FeedSource, FeedValue
from onestop.catalogue.feeds import load_feeds as load_feeds_config
from onestop.catalogue.text import Lang
from onestop.engine.errors import EngineError

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 4 * 1024 * 1024
# After a failure, try again sooner than the normal refresh, but not in a tight loop.
RETRY_SECONDS = 60.0
_KINDS = frozenset(FeedKind)


class FeedFetchError(EngineError):
    """Feed bytes could not be had (network, HTTP status, redirect, size, or a missing file)."""

    code = "FEED_FETCH_FAILED"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class FeedFailure:
    """Why the most recent attempt failed, and when."""

    code: str
    message: str
    at: datetime


@dataclass(frozen=True)
class FeedState:
    """What is served for one feed in one language."""

    feed_id: str
    kind: FeedKind
    language: Lang
    value: FeedValue | None
    fetched_at: datetime | None  # when ``value`` was read
    checked_at: datetime | None  # the most recent attempt, good or bad
    error: FeedFailure | None  # the most recent attempt's failure; None after a success

    @property
    def stale(self) -> bool:
        """True when the latest attempt failed (or none has succeeded): ``value`` may be old or absent."""
        return self.value is None or self.error is not None


class ByteSource(Protocol):
    """Where a feed's bytes come from."""

    description: str

    async def read(self) -> bytes: ...


class FileByteSource:
    """A local file (the embedded default)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)

    async def read(self) -> bytes:
        try:
            return await asyncio.to_thread(self.path.read_bytes)
        except OSError as exc:
            raise FeedFetchError("FEED_FILE_UNREADABLE", f"cannot read {self.path}: {exc.strerror}") from exc


class HttpByteSource:
    """An HTTP(S) URL fetched with a timeout, no redirects and a size cap."""

    def __init__(self, url: str, client: httpx.AsyncClient, timeout: float) -> None:
        self.url = url
        self.client = client
        self.timeout = timeout
        self.description = url

    async def read(self) -> bytes:
        try:
            async with self.client.stream("GET", self.url, timeout=self.timeout, follow_redirects=False) as response:
                if response.is_redirect:
                    where = response.headers.get("location", "?")
                    raise FeedFetchError("FEED_REDIRECT", f"{self.url} redirected to {where}; redirects are not "
                                         "followed: configure the final URL")
                if response.status_code != httpx.codes.OK:
                    raise FeedFetchError("FEED_HTTP_STATUS", f"{self.url} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_FEED_BYTES:
                        raise FeedFetchError("FEED_TOO_LARGE", f"{self.url} sent more than {MAX_FEED_BYTES} bytes")
                return bytes(body)
        except httpx.TimeoutException as exc:
            raise FeedFetchError("FEED_TIMEOUT", f"{self.url} did not answer within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise FeedFetchError("FEED_UNREACHABLE", f"{self.url}: {type(exc).__name__}: {exc}") from exc


@dataclass
class _Slot:
    """One source and the languages read from it (a bilingual source is fetched once for all)."""

    feed: FeedDefinition
    config: FeedSource
    source: ByteSource
    languages: tuple[Lang, ...]


class FeedService:
    """The latest good value of each feed per language; ``start`` it, ``close`` it."""

    def __init__(self, config: FeedsConfig, root: Path, *, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._config = config
        self._clock = clock
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False,
                                                   headers={"User-Agent": "onestop-feeds/1"})
        self._slots = list(self._plan(config, root))
        self._states: dict[tuple[str, Lang], FeedState] = {
            (feed.id, lang): FeedState(feed.id, feed.kind, lang, None, None, None, None)
            for feed in config.feeds for lang in Lang
        }
        self._tasks: list[asyncio.Task[None]] = []

    def _plan(self, config: FeedsConfig, root: Path) -> Iterable[_Slot]:
        for feed in config.feeds:
            grouped: dict[tuple[str | None, str | None], list[Lang]] = {}
            configs: dict[tuple[str | None, str | None], FeedSource] = {}
            for lang in Lang:
                src = feed.source_for(lang)
                key = (src.file, src.url)
                grouped.setdefault(key, []).append(lang)
                configs.setdefault(key, src)
            for key, languages in grouped.items():
                src = configs[key]
                source: ByteSource = (FileByteSource(root / src.file) if src.file is not None
                                      else HttpByteSource(str(src.url), self._client, src.timeout_seconds))
                yield _Slot(feed, src, source, tuple(languages))

    @classmethod
    async def start(cls, config: FeedsConfig, root: Path, *, client: httpx.AsyncClient | None = None,
                    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                    background: bool = True) -> FeedService:
        """Read local files now; fetch HTTP feeds now (``background=False``) or in background pollers that
        fetch at once and then every refresh interval, so a slow publisher never delays start-up."""
        service = cls(config, root, client=client, clock=clock)
        if background:
            await asyncio.gather(*(service._refresh_slot(s) for s in service._slots if s.config.url is None))
            service._start_pollers()
        else:
            await service.refresh()
        return service

    @classmethod
    async def from_definitions(cls, root: Path, *, client: httpx.AsyncClient | None = None,
                               background: bool = True) -> FeedService:
        """Load ``root/feeds.yaml`` (raising ``CatalogueError`` on problems) and start the service."""
        config = await asyncio.to_thread(load_feeds_config, root)
        return await cls.start(config, root, client=client, background=background)

    @property
    def config(self) -> FeedsConfig:
        return self._config

    def state(self, feed: FeedKind | str, lang: Lang | str) -> FeedState | None:
        """What is served for a feed (by kind or id) in ``lang``; None for an unknown feed."""
        definition = self._config.feed(feed) if feed in _KINDS else None
        feed_id = definition.id if definition is not None else str(feed)
        return self._states.get((feed_id, Lang(lang)))

    def value(self, feed: FeedKind | str, lang: Lang | str) -> FeedValue | None:
        """The latest good value, or None when there never was one."""
        state = self.state(feed, lang)
        return state.value if state is not None else None

    def states(self) -> list[FeedState]:
        """Every feed in every language, for health reporting."""
        return list(self._states.values())

    async def refresh(self, feed_id: str | None = None) -> None:
        """Fetch and parse now (every feed, or one by id); failures are recorded, never raised."""
        slots = [slot for slot in self._slots if feed_id is None or slot.feed.id == feed_id]
        await asyncio.gather(*(self._refresh_slot(slot) for slot in slots))

    async def _refresh_slot(self, slot: _Slot) -> bool:
        now = self._clock()
        try:
            data = await slot.source.read()
        except FeedFetchError as exc:
            self._fail(slot, slot.languages, exc.code, exc.message, now)
            return False
        ok = True
        for lang in slot.languages:
            try:
                value = slot.feed.adapter.parse(data, lang, source=slot.source.description)
            except FeedFormatError as exc:
                self._fail(slot, (lang,), exc.code, exc.problems[0].format(), now)
                ok = False
                continue
            self._states[(slot.feed.id, lang)] = FeedState(slot.feed.id, slot.feed.kind, lang, value, now, now, None)
        return ok

    def _fail(self, slot: _Slot, languages: Iterable[Lang], code: str, message: str, now: datetime) -> None:
        log.warning("feed %s (%s) failed: %s: %s; serving the last good value", slot.feed.id,
                    slot.source.description, code, message)
        failure = FeedFailure(code, message, now)
        for lang in languages:
            previous = self._states[(slot.feed.id, lang)]
            self._states[(slot.feed.id, lang)] = FeedState(
                previous.feed_id, previous.kind, lang, previous.value, previous.fetched_at, now, failure)

    def _start_pollers(self) -> None:
        loop = asyncio.get_running_loop()
        for slot in self._slots:
            if slot.config.url is not None:
                self._tasks.append(loop.create_task(self._poll(slot), name=f"feed-{slot.feed.id}"))

    async def _poll(self, slot: _Slot) -> None:
        while True:
            try:
                ok = await self._refresh_slot(slot)
            except Exception:  # a poller that dies would freeze the feed silently
                log.exception("feed %s refresh crashed", slot.feed.id)
                ok = False
            interval = slot.config.refresh_seconds
            await asyncio.sleep(interval if ok else min(interval, RETRY_SECONDS))

    async def close(self) -> None:
        """Stop refreshing and release the HTTP client."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._own_client:
            await self._client.aclose()
