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

from onestop.engine.applications import pinned
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.db import Database, ServiceSnapshotRow
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.contracts import ApplicationView
from onestop.workflows.snapshot import ServiceSnapshot

_SNAPSHOT = TypeAdapter(ServiceSnapshot)
_CACHE_SIZE = 2_000


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


class SnapshotStore:
    """Snapshots by content hash: in memory, and in the ``service_snapshots`` table every replica reads."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._cache: dict[str, ServiceSnapshot] = {}
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

    async def complete(self, view: ApplicationView,
                       fallback: Callable[[], Awaitable[ServiceSnapshot]]) -> ApplicationView:
        """The view with its current step and the steps' titles, from the application's own snapshot.

        ``fallback`` asks the workflow itself, for an application whose snapshot was never stored here.
        """
        snapshot = await self.get(view.content_hash)
        if snapshot is None:
            snapshot = await fallback()
            await self.put(snapshot)
        titles = {step.id: step.title for step in snapshot.steps}
        return replace(
            view,
            current_step=snapshot.step(view.current_step_id) if view.current_step_id else None,
            outline=[replace(entry, title=titles.get(entry.id, entry.title)) for entry in view.outline],
        )

    def _remember(self, snapshot: ServiceSnapshot) -> None:
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[snapshot.content_hash] = snapshot
