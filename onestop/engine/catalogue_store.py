"""The catalogue a running server answers from, swapped whole on reload.

A reload that finds a broken tree keeps serving the previous good catalogue and records the problems,
so a bad deploy of YAML never takes the API down (issue 2, section 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import pickle
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar, cast

from onestop.catalogue import CatalogueError, load_catalogue
from onestop.catalogue.catalogue import Catalogue, Steps, collector_paused, load_steps, run_steps
from onestop.catalogue.problems import Problem
from onestop.catalogue.search import SearchDocument, SearchIndex
from onestop.catalogue.services import Service
from onestop.catalogue.transfer import CatalogueReader
from onestop.engine import metrics
from onestop.engine.catalogue_process import ChildFailed, discard, load_in_child
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CatalogueSnapshot:
    """One loaded catalogue with its search index; immutable, swapped atomically."""

    catalogue: Catalogue
    index: SearchIndex
    loaded_at: datetime


# A reload runs on the event loop, a step at a time (a file loaded, a service checked, a few hundred documents
# indexed), and gives the loop a turn after each step or slice of half a millisecond: requests keep being answered.
# A worker thread would not do: CPython hands the interpreter to the loop's thread only once per switch interval,
# so requests arriving during a reload waited several times over (p99 2 to 5.5 times the idle one at 10,000
# services) even with the interval lowered.
RELOAD_SLICE_SECONDS = 0.0005
# A child process costs most of a second of CPU before it reads the first file (the interpreter, pydantic, the
# models): it pays for itself only on a large tree. Below this many files the reload stays on the loop.
CHILD_FROM_FILES = 300


async def run_between_requests(steps: Steps[T], slice_seconds: float = RELOAD_SLICE_SECONDS) -> T:
    """Run a step generator on the event loop, yielding to other tasks after each slice; its result."""
    try:
        while True:
            deadline = time.perf_counter() + slice_seconds
            next(steps)
            while time.perf_counter() < deadline:
                next(steps)
            await asyncio.sleep(0)
    except StopIteration as done:
        return cast(T, done.value)
    finally:
        steps.close()


def _fingerprint_steps(root: Path) -> Steps[tuple[tuple[str, int, int], ...]]:
    entries: list[tuple[str, int, int]] = []
    for dirpath, _dirs, files in os.walk(root):
        for number, name in enumerate(files, start=1):
            path = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                stat = os.stat(path)
                entries.append((path, stat.st_size, stat.st_mtime_ns))
            if number % 200 == 0:
                yield
        yield
    return tuple(sorted(entries))


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    # Cheap change detection for polling: names, sizes and mtimes; a full load only when they move.
    return run_steps(_fingerprint_steps(root))


def _released(holder: list[CatalogueSnapshot], index_kept: bool = True) -> Steps[None]:
    """Let go of the snapshot in ``holder`` (its only reference) a few services at a time.

    Freeing 10,000 services' millions of objects at once would stall the loop for most of a second: the services
    are held here while the snapshot goes, then let go of in steps; so are the pieces of its search index, unless
    the new snapshot kept it. (A request still holding the snapshot keeps it all alive; it is then freed when that
    request ends.)"""
    services = list(holder[0].catalogue.services.values())
    pieces: list[object] = []
    if not index_kept:
        for number, piece in enumerate(holder[0].index.parts()):
            pieces.append(piece)
            if number % _RELEASE_STEP == 0:
                yield
    holder.clear()
    yield
    while services:
        del services[-_RELEASE_STEP:]
        yield
    while pieces:
        del pieces[-_RELEASE_PIECES:]
        yield


_RELEASE_STEP = 50
_RELEASE_PIECES = 2  # pieces of a search index (``SearchIndex.parts``) per step
_COMPARE_STEP = 200  # services per step when comparing a loaded catalogue with the current one


def _known_steps(catalogue: Catalogue) -> Steps[bytes]:
    """The ``slug hash`` lines a reload child reads on stdin: the services this process holds."""
    lines: list[str] = []
    for number, (slug, service) in enumerate(catalogue.services.items(), start=1):
        lines.append(f"{slug} {service.content_hash}\n")
        if number % _COMPARE_STEP == 0:
            yield
    return "".join(lines).encode()


def _reusing_steps(catalogue: Catalogue, current: Catalogue) -> Steps[Catalogue]:
    """``catalogue`` with each service whose content hash is unchanged replaced by ``current``'s object.

    Running applications pin a service by its content hash, so the object is the same definition; keeping it
    keeps one copy in memory, and lets the search index be kept when no searchable text moved."""
    services: dict[str, Service] = {}
    for number, (slug, service) in enumerate(catalogue.services.items(), start=1):
        held = current.services.get(slug)
        services[slug] = held if held is not None and held.content_hash == service.content_hash else service
        if number % _COMPARE_STEP == 0:
            yield
    return dataclasses.replace(catalogue, services=MappingProxyType(services))


def _kept_index_steps(current: CatalogueSnapshot, catalogue: Catalogue) -> Steps[SearchIndex | None]:
    """``current``'s index when it indexes ``catalogue`` as well (the same services in the same order, each
    reused or with the same search document); None when it must be built again."""
    if catalogue.version == current.catalogue.version:
        return current.index
    documents = current.index.documents
    if len(documents) != len(catalogue.services):
        return None
    for number, (document, service) in enumerate(zip(documents, catalogue.services.values(), strict=True)):
        if document.id != service.id:
            return None
        held = current.catalogue.services.get(service.id)
        if service is not held and SearchDocument.from_service(service) != document:
            return None
        if number % _COMPARE_STEP == 0:
            yield
    return current.index


def build_snapshot(catalogue: Catalogue, now: datetime | None = None) -> CatalogueSnapshot:
    """Index a catalogue's services and stamp the snapshot."""
    return CatalogueSnapshot(
        catalogue=catalogue,
        index=SearchIndex.build(catalogue),
        loaded_at=now or datetime.now(UTC),
    )


class CatalogueStore:
    """Holds the current catalogue snapshot and the problems of the last failed reload."""

    events: EventSink = NO_EVENTS

    def __init__(self, root: Path, snapshot: CatalogueSnapshot, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), reload_in_child: bool = False) -> None:
        self.root = root
        # Reloads of a tree of CHILD_FROM_FILES files or more parse and validate in a child process (see
        # ``catalogue_process``); smaller ones, or all with reload_in_child off, on the event loop.
        self.reload_in_child = reload_in_child
        self.child_from_files = CHILD_FROM_FILES
        self._snapshot = snapshot
        self._problems: tuple[Problem, ...] = ()
        self._last_attempt_at = snapshot.loaded_at
        self._clock = clock
        self._fingerprint = _fingerprint(root)
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[bool]] = set()
        self._listeners: list[Callable[[CatalogueSnapshot], Awaitable[object]]] = []

    @classmethod
    async def open(cls, root: Path, *, reload_in_child: bool = False) -> CatalogueStore:
        """Load the tree; the first load must succeed (raises ``CatalogueError`` with every problem)."""
        catalogue = await asyncio.to_thread(load_catalogue, root)
        snapshot = await asyncio.to_thread(build_snapshot, catalogue)
        return cls(root, snapshot, reload_in_child=reload_in_child)

    @property
    def snapshot(self) -> CatalogueSnapshot:
        return self._snapshot

    @property
    def catalogue(self) -> Catalogue:
        return self._snapshot.catalogue

    @property
    def index(self) -> SearchIndex:
        return self._snapshot.index

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Problems of the most recent reload attempt; empty when it succeeded."""
        return self._problems

    @property
    def last_attempt_at(self) -> datetime:
        return self._last_attempt_at

    def on_reload(self, listener: Callable[[CatalogueSnapshot], Awaitable[object]]) -> None:
        """Call ``listener`` after each successful reload that announces (SIGHUP, file polling)."""
        self._listeners.append(listener)

    async def reload(self, *, announce: bool = True) -> bool:
        """Load the tree again; on success swap it in, otherwise keep the previous one and record why.

        ``announce`` tells the listeners (the other processes, through the database); a reload that follows
        another process's announcement passes False."""
        reloaded = await self._reload()
        if reloaded and announce:
            for listener in self._listeners:
                try:
                    await listener(self._snapshot)
                except Exception:  # this process serves the new version anyway; the others keep their poll
                    log.warning("could not announce catalogue version %s", self._snapshot.catalogue.version,
                                exc_info=True)
        return reloaded

    async def _reload(self) -> bool:
        async with self._lock:
            self._last_attempt_at = self._clock()
            self._fingerprint = await run_between_requests(_fingerprint_steps(self.root))
            current = self._snapshot
            previous: list[CatalogueSnapshot] = []
            with contextlib.ExitStack() as paused:
                try:
                    catalogue, index = await self._load(current, paused)
                except CatalogueError as exc:
                    self._problems = tuple(exc.problems)
                    metrics.record_catalogue_reload(len(self._problems))
                    self.events.record(EventKind.CATALOGUE_CHANGED, outcome="rejected", problems=len(self._problems))
                    log.warning("catalogue reload failed with %d problem(s); still serving version %s",
                                len(self._problems), self._snapshot.catalogue.version)
                    return False
                if catalogue.version != current.catalogue.version:
                    if index is None:
                        index = await run_between_requests(SearchIndex.build_steps(catalogue))
                    # Built between requests, then swapped in one assignment: a request sees the old or the new.
                    previous.append(self._snapshot)
                    self._snapshot = CatalogueSnapshot(catalogue=catalogue, index=index, loaded_at=self._clock())
                    # The objects just loaded (hundreds of thousands at 10,000 services) would otherwise all sit in
                    # the collector's youngest generation when it comes back on, and its next passes would walk
                    # them all at once: tens of milliseconds per thousand services on the loop. Frozen, they are
                    # never walked. A catalogue and its index hold no reference cycles (tests/engine/
                    # test_catalogue_reuse.py checks it), so freezing leaks nothing: they are freed by reference
                    # counting when replaced.
                    gc.freeze()
            if previous:
                log.info("catalogue reloaded: version %s", self._snapshot.catalogue.version)
                self.events.record(EventKind.CATALOGUE_CHANGED, outcome="applied",
                                   version=self._snapshot.catalogue.version)
                await run_between_requests(_released(previous, index_kept=previous[0].index is self._snapshot.index))
            self._problems = ()
            metrics.record_catalogue_reload(0)
            return True

    async def _load(self, current: CatalogueSnapshot,
                    paused: contextlib.ExitStack) -> tuple[Catalogue, SearchIndex | None]:
        """The tree loaded again, its services that did not change being ``current``'s own objects; and its search
        index when one is at hand (``current``'s, when no service's searchable text moved, or the child's). The
        cyclic collector is paused on ``paused`` from when the loading on this loop starts."""
        if self.reload_in_child and len(self._fingerprint) >= self.child_from_files:
            try:
                return await self._load_in_child(current, paused)
            except (ChildFailed, OSError, EOFError, pickle.UnpicklingError):
                log.warning("catalogue child process failed; loading on the event loop instead", exc_info=True)
        paused.enter_context(collector_paused())
        catalogue = await run_between_requests(load_steps(self.root))
        catalogue = await run_between_requests(_reusing_steps(catalogue, current.catalogue))
        return catalogue, await run_between_requests(_kept_index_steps(current, catalogue))

    async def _load_in_child(self, current: CatalogueSnapshot,
                             paused: contextlib.ExitStack) -> tuple[Catalogue, SearchIndex | None]:
        known = await run_between_requests(_known_steps(current.catalogue))
        path = await load_in_child(self.root, known)
        # Not while the child works (minutes, maybe): only from the reading back to the swap.
        paused.enter_context(collector_paused())
        try:
            with open(path, "rb") as file:  # noqa: ASYNC230 - a local file, read a service per step
                reader = CatalogueReader(file, current.catalogue.services)
                catalogue = await run_between_requests(reader.catalogue_steps())
                index = await run_between_requests(_kept_index_steps(current, catalogue))
                if index is None and reader.has_index:
                    index = await run_between_requests(reader.index_steps())
                return catalogue, index
        finally:
            discard(path)

    async def reload_if_changed(self, *, announce: bool = True) -> bool | None:
        """Reload when files under the root changed since the last attempt; None when nothing changed."""
        current = await run_between_requests(_fingerprint_steps(self.root))
        if current == self._fingerprint:
            return None
        return await self.reload(announce=announce)

    def start_polling(self, interval: float) -> None:
        """Check the tree every ``interval`` seconds (0 disables); idempotent."""
        if interval <= 0 or self._poller is not None:
            return

        async def poll() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.reload_if_changed()
                except Exception:  # a poller that dies silently would freeze the catalogue
                    log.exception("catalogue poll failed")

        self._poller = asyncio.get_running_loop().create_task(poll(), name="catalogue-poll")

    def install_sighup(self, loop: asyncio.AbstractEventLoop,
                       *also: Callable[[], Awaitable[object]]) -> bool:
        """Reload on SIGHUP, then run ``also`` (e.g. re-read local feed files); called by the process runner,
        never at import. False where unsupported."""
        if not hasattr(signal, "SIGHUP"):
            return False

        async def reload_all() -> bool:
            reloaded = await self.reload()
            for extra in also:
                await extra()
            return reloaded

        def on_signal() -> None:
            task = loop.create_task(reload_all(), name="catalogue-sighup-reload")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, on_signal)
        except (NotImplementedError, RuntimeError):
            return False
        return True

    async def close(self) -> None:
        """Stop polling, and any reload a SIGHUP started (a reload writes to the database, which closes next)."""
        tasks = [*self._pending, *([self._poller] if self._poller is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._poller = None
