"""The engine process settles its heap once start-up is done (engine/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from onestop.engine import heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()  # this test process's objects go back to the collector
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_settle_collects_startup_garbage_and_freezes_what_survives() -> None:
    # A cycle dropped before settling is garbage: it must be collected, not frozen (frozen, it would never be).
    dropped, kept = _Node(), _Node()
    dropped.other, kept.other = dropped, kept
    dropped_ref = weakref.ref(dropped)
    del dropped
    gc.unfreeze()
    heap.settle()
    assert dropped_ref() is None
    assert gc.get_freeze_count() > 0
    # Frozen: out of every generation the collector walks.
    assert gc.is_tracked(kept)
    assert not any(o is kept for o in gc.get_objects())


@pytest.mark.usefixtures("restored_collector")
def test_settle_collects_the_youngest_generation_less_often() -> None:
    heap.settle()
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD > 700
