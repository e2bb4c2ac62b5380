"""Pinned snapshots by reference: a workflow input names its service snapshot by digest instead of carrying it.

Every application of a service version used to carry the same snapshot in its history (2.5 KB encrypted, once per
application). Now the engine stores the snapshot once, under the SHA-256 of its JSON, and starts the workflow with
that digest (``ApplicationInput.service_ref``). The payload codec loads the snapshot by digest before a worker
decodes the input, and the converter puts it back, so the workflow sees its input whole on every run, replay and
worker. The digest covers the exact stored bytes, so a reference can only ever name one snapshot: a catalogue
reload cannot change what a running application interprets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace

from pydantic import TypeAdapter

from onestop.workflows.contracts import ApplicationInput
from onestop.workflows.snapshot import ServiceSnapshot

METADATA_KEY = "onestop-pin"
"""Inner payload metadata naming the digest of the snapshot a workflow input refers to."""

Loader = Callable[[str], Awaitable[ServiceSnapshot | None]]
"""Reads a pinned snapshot by digest from the engine's store (None when it holds no such snapshot)."""

_ADAPTER = TypeAdapter(ServiceSnapshot)
_MAX = 2_000
_pinned: dict[str, ServiceSnapshot] = {}
_loader: list[Loader] = []


class PinnedSnapshotMissing(Exception):
    """A workflow input names a snapshot this process cannot find; its workflow task fails and is retried."""

    code = "PINNED_SNAPSHOT_MISSING"

    def __init__(self, ref: str) -> None:
        super().__init__(
            f"no pinned service snapshot {ref!r} in the snapshot store (service_snapshots); is this "
            "worker on the same database as the API that started the application?"
        )
        self.ref = ref


def dump(snapshot: ServiceSnapshot) -> tuple[str, bytes]:
    """The snapshot's reference and the exact bytes it names."""
    data = _ADAPTER.dump_json(snapshot)
    return hashlib.sha256(data).hexdigest(), data


def load(ref: str, data: bytes) -> ServiceSnapshot | None:
    """The snapshot in ``data`` if ``ref`` names those bytes (else None: a row that is not this pin)."""
    if hashlib.sha256(data).hexdigest() != ref:
        return None
    return _ADAPTER.validate_json(data)


def remember(ref: str, snapshot: ServiceSnapshot) -> None:
    if len(_pinned) >= _MAX:
        _pinned.clear()
    _pinned[ref] = snapshot


def known(ref: str) -> bool:
    return ref in _pinned


def use_loader(loader: Loader) -> None:
    """Where this process reads pins it has not seen yet (the engine's snapshot store)."""
    _loader[:] = [loader]


async def prefetch(ref: str) -> None:
    """Make ``ref`` resolvable in this process (the codec calls it before the converter needs it)."""
    if ref in _pinned:
        return
    snapshot = await _loader[0](ref) if _loader else None
    if snapshot is None:
        raise PinnedSnapshotMissing(ref)
    remember(ref, snapshot)


def resolve(value: ApplicationInput) -> ApplicationInput:
    """The input with its snapshot in place (as it is, when it carries the snapshot itself)."""
    if value.service is not None or not value.service_ref:
        return value
    snapshot = _pinned.get(value.service_ref)
    if snapshot is None:
        raise PinnedSnapshotMissing(value.service_ref)
    return replace(value, service=snapshot)
