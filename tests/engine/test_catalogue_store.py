"""The catalogue store reloads on the event loop in small steps, so requests keep being answered meanwhile."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Generator
from pathlib import Path

from onestop.catalogue import load_catalogue
from onestop.catalogue.catalogue import load_steps, run_steps
from onestop.catalogue.search import SearchIndex
from onestop.engine.catalogue_store import CatalogueStore, run_between_requests

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
SERVICE = Path("services/transport/renew-driving-licence.yaml")



async def _turns_while(task: asyncio.Task[bool]) -> int:
    """How many times another task got the event loop while ``task`` ran."""
    turns = 0
    while not task.done():
        await asyncio.sleep(0)
        turns += 1
    return turns


async def test_other_tasks_run_between_the_slices_of_a_step_generator() -> None:
    def steps() -> Generator[None, None, str]:
        for _ in range(5):
            yield
        return "done"

    async def run() -> bool:
        return await run_between_requests(steps(), slice_seconds=0.0) == "done"

    task = asyncio.get_running_loop().create_task(run())
    assert await _turns_while(task) >= 5
    assert task.result()


async def test_requests_keep_getting_the_loop_while_a_changed_tree_reloads(tree: Path) -> None:
    store = await CatalogueStore.open(tree)
    before = store.catalogue.version
    service = tree / SERVICE
    text = service.read_text(encoding="utf-8")
    old = int(re.search(r"^version: (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    service.write_text(text.replace(f"\nversion: {old}\n", f"\nversion: {old + 1}\n", 1), encoding="utf-8")
    reload = asyncio.get_running_loop().create_task(store.reload())
    turns = await _turns_while(reload)
    assert reload.result()
    assert store.catalogue.version != before
    assert store.catalogue.services["renew-driving-licence"].version == old + 1
    # Loading, checking and indexing the seed tree takes tens of slices of a millisecond.
    assert turns >= 10
    assert store.index.search("driving licence")[0].id == "renew-driving-licence"


async def test_a_failed_reload_keeps_the_catalogue_and_turns_the_collector_back_on(tree: Path) -> None:
    store = await CatalogueStore.open(tree)
    before = store.catalogue.version
    (tree / SERVICE).write_text("id: renew-driving-licence\nversion: [\n", encoding="utf-8")
    assert not await store.reload()
    assert store.catalogue.version == before
    assert [problem.code for problem in store.problems] == ["YAML_SYNTAX"]
    assert gc.isenabled()


def test_the_stepped_load_and_index_equal_the_one_shot_ones() -> None:
    stepped = run_steps(load_steps(DEFINITIONS))
    whole = load_catalogue(DEFINITIONS)
    assert stepped.version == whole.version
    index = run_steps(SearchIndex.build_steps(stepped))
    assert [hit.id for hit in index.search("licence")] == [hit.id for hit in SearchIndex.build(whole).search("licence")]


def test_a_replaced_snapshot_is_let_go_of_a_few_services_at_a_time() -> None:
    import weakref
    from types import SimpleNamespace
    from typing import Any, cast

    from onestop.engine.catalogue_store import _released

    class Service:
        pass

    services = {f"s{number}": Service() for number in range(120)}
    alive = [weakref.ref(service) for service in services.values()]
    holder = [cast(Any, SimpleNamespace(catalogue=SimpleNamespace(services=services)))]
    del services
    steps = _released(holder)
    next(steps)
    assert holder == []
    assert all(ref() is not None for ref in alive)  # the snapshot went; its services are still held
    next(steps)
    assert 0 < sum(ref() is None for ref in alive) < len(alive)
    run_steps(steps)
    assert all(ref() is None for ref in alive)
