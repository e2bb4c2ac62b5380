"""The catalogue store reloads off the event loop and keeps the loop responsive while it does."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from onestop.catalogue import Catalogue, load_catalogue
from onestop.engine import catalogue_store
from onestop.engine.catalogue_store import RELOAD_SWITCH_INTERVAL, CatalogueStore, responsive_loop

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"


def test_the_switch_interval_is_lowered_while_any_reload_runs_and_restored_after() -> None:
    before = sys.getswitchinterval()
    with responsive_loop():
        with responsive_loop():
            assert sys.getswitchinterval() == min(before, RELOAD_SWITCH_INTERVAL)
        assert sys.getswitchinterval() == min(before, RELOAD_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before


async def test_a_reload_loads_in_a_worker_thread_with_the_lower_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    root = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, root)
    store = await CatalogueStore.open(root)
    seen: list[tuple[bool, float]] = []

    def load(path: Path) -> Catalogue:
        seen.append((threading.current_thread() is threading.main_thread(), sys.getswitchinterval()))
        return load_catalogue(path)

    monkeypatch.setattr(catalogue_store, "load_catalogue", load)
    before = sys.getswitchinterval()
    assert await store.reload()
    assert seen == [(False, min(before, RELOAD_SWITCH_INTERVAL))]
    assert sys.getswitchinterval() == before
