"""Pinned service snapshots: built from the catalogue once per version, kept by content hash for the life of every
application that runs on them.

The workflow carries its snapshot in its input and answers each action with the step's id only; the engine
renders the step from the snapshot kept here, so a running application keeps its version across catalogue
reloads, restarts and replicas without the definition travelling with every answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError

from onestop.catalogue import StepKind
from onestop.engine.applications import pinned
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.db import Database, ServiceSnapshotRow
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.contracts import ApplicationView, StepOutline, StepState
from onestop.workflows.snapshot import ExitSpec, ServiceSnapshot, StepSpec

_SNAPSHOT = TypeAdapter(ServiceSnapshot)
_CACHE_SIZE = 2_000
_OUTLINES_KEPT = 4_096
_STATES = {state.value[0]: state for state in StepState}


class CatalogueSnapshots:
    """Pinned snapshots of the catalogue's current services, built once per content hash."""

    def __init__(self, store: CatalogueStore) -> None:
        self._store = store
        self._cache: dict[str, ServiceSnapshot] = {}

    def __call__(self, slug: str) -> ServiceSnapshot | None:
        catalogue = self._store.catalogue
        service = catalogue.service(slug)
        if service is None:
            return None
        key = f"{catalogue.version}:{service.content_hash}"
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            department = catalogue.departments.get(service.department)
            cached = self._cache[key] = snapshot_from_service(
                service,
                assurance_levels=list(catalogue.assurance.ids),
                submission_url=department.submission.url if department else None,
            )
        return cached


class Rendering:
    """What every view of one snapshot shares: its steps by id, their titles, and the outlines of brief answers.

    Built once per snapshot (content hash): every answer of every application on that version looks its step up
    here instead of scanning the snapshot's steps, and the same few outlines recur (one per step reached)."""

    def __init__(self, snapshot: ServiceSnapshot) -> None:
        self.snapshot = snapshot
        self.steps: dict[str, StepSpec] = {}
        for step in snapshot.steps:
            self.steps.setdefault(step.id, step)  # the first, as ``ServiceSnapshot.step`` finds it
        self.titles = {step.id: step.title for step in snapshot.steps}
        self._outlines: dict[tuple[str | None, str], list[StepOutline] | None] = {}

    def step(self, step_id: str | None) -> StepSpec | None:
        return self.steps.get(step_id) if step_id else None

    def outline(self, current_step_id: str | None, letters: str) -> list[StepOutline] | None:
        """The outline of a brief answer (one state letter per step, an exit step only when current), titled from
        the snapshot; None when the answer and the snapshot disagree. Shared by every view that has it: a view's
        outline is never changed in place."""
        key = (current_step_id, letters)
        if key in self._outlines:
            return self._outlines[key]
        steps = [s for s in self.snapshot.steps if not isinstance(s, ExitSpec) or s.id == current_step_id]
        found: list[StepOutline] | None = None
        if len(steps) == len(letters) and all(letter in _STATES for letter in letters):
            found = [StepOutline(s.id, StepKind(s.type), self.titles[s.id], _STATES[letter])
                     for s, letter in zip(steps, letters, strict=True)]
        if len(self._outlines) >= _OUTLINES_KEPT:
            self._outlines.clear()
        self._outlines[key] = found
        return found


class SnapshotStore:
    """Snapshots by content hash: in memory, and in the ``service_snapshots`` table every replica reads."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._cache: dict[str, ServiceSnapshot] = {}
        self._renderings: dict[str, Rendering] = {}
        self._pins: set[str] = set()  # pinned in this database
        # By the snapshot object's id, kept alive with it so the id cannot be reused: (snapshot, ref, bytes).
        self._dumped: dict[int, tuple[ServiceSnapshot, str, bytes]] = {}

    async def put(self, snapshot: ServiceSnapshot) -> None:
        """Keep ``snapshot`` (written once per content hash; later puts of the same hash change nothing)."""
        if snapshot.content_hash in self._cache:
            return
        try:
            async with self._database.session() as session:
                if await session.get(ServiceSnapshotRow, snapshot.content_hash) is None:
                    session.add(ServiceSnapshotRow(content_hash=snapshot.content_hash, service_id=snapshot.id,
                                                   version=snapshot.version,
                                                   snapshot=_SNAPSHOT.dump_json(snapshot).decode()))
        except IntegrityError:
            pass  # another replica stored the same version first
        self._remember(snapshot)

    async def pin(self, snapshot: ServiceSnapshot) -> str:
        """Store ``snapshot`` under the digest of its JSON (once) and return that reference for a workflow input."""
        dumped = self._dumped.get(id(snapshot))
        if dumped is None or dumped[0] is not snapshot:
            # Every start of a service version pins the same snapshot object: its JSON is made once.
            if len(self._dumped) >= _CACHE_SIZE:
                self._dumped.clear()
            dumped = self._dumped[id(snapshot)] = (snapshot, *pinned.dump(snapshot))
        _, ref, data = dumped
        if ref in self._pins:
            pinned.remember(ref, snapshot)
            return ref
        try:
            async with self._database.session() as session:
                if await session.get(ServiceSnapshotRow, ref) is None:
                    session.add(ServiceSnapshotRow(content_hash=ref, service_id=snapshot.id,
                                                   version=snapshot.version, snapshot=data.decode()))
        except IntegrityError:
            pass  # another replica pinned the same bytes first
        if len(self._pins) >= _CACHE_SIZE:
            self._pins.clear()
        self._pins.add(ref)
        pinned.remember(ref, snapshot)
        return ref

    async def pinned(self, ref: str) -> ServiceSnapshot | None:
        """The snapshot pinned under ``ref`` (``pin``), for a worker decoding a workflow input that names it."""
        async with self._database.session() as session:
            row = await session.get(ServiceSnapshotRow, ref)
        return None if row is None else pinned.load(ref, row.snapshot.encode())

    async def get(self, content_hash: str) -> ServiceSnapshot | None:
        cached = self._cache.get(content_hash)
        if cached is not None:
            return cached
        async with self._database.session() as session:
            row = await session.get(ServiceSnapshotRow, content_hash)
        if row is None:
            return None
        snapshot = _SNAPSHOT.validate_json(row.snapshot)
        self._remember(snapshot)
        return snapshot

    async def rendering(self, content_hash: str) -> Rendering | None:
        """What views of the snapshot stored under ``content_hash`` share (None when there is no such snapshot)."""
        found = self._renderings.get(content_hash)
        if found is not None:
            return found
        snapshot = await self.get(content_hash)
        return None if snapshot is None else self._rendering(snapshot)

    async def complete(self, view: ApplicationView,
                       fallback: Callable[[], Awaitable[ServiceSnapshot]]) -> ApplicationView:
        """The view with its current step and the steps' titles, from the application's own snapshot.

        ``fallback`` asks the workflow itself, for an application whose snapshot was never stored here.
        """
        rendering = await self.rendering(view.content_hash)
        if rendering is None:
            snapshot = await fallback()
            await self.put(snapshot)
            rendering = self._rendering(snapshot)
        titles = rendering.titles
        return replace(
            view,
            current_step=rendering.step(view.current_step_id),
            outline=[replace(entry, title=titles.get(entry.id, entry.title)) for entry in view.outline],
        )

    def _rendering(self, snapshot: ServiceSnapshot) -> Rendering:
        found = self._renderings.get(snapshot.content_hash)
        if found is None or found.snapshot is not snapshot:
            if len(self._renderings) >= _CACHE_SIZE:
                self._renderings.clear()
            found = self._renderings[snapshot.content_hash] = Rendering(snapshot)
        return found

    def _remember(self, snapshot: ServiceSnapshot) -> None:
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[snapshot.content_hash] = snapshot
