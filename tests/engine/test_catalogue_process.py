"""A reload parsed and validated in a child process gives the catalogue an in-process load gives, read back in steps."""

from __future__ import annotations

import asyncio
import gc
import io
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from objects import models_in

from onestop.catalogue import load_catalogue
from onestop.catalogue.catalogue import run_steps
from onestop.catalogue.services import Service
from onestop.catalogue.transfer import read_catalogue_steps, write_catalogue
from onestop.engine.catalogue_store import CatalogueStore

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
SERVICE = Path("services/transport/renew-driving-licence.yaml")
DEFINITIONS_FILES = [path for path in DEFINITIONS.rglob("*") if path.is_file()]



def _bump_version(tree: Path) -> int:
    service = tree / SERVICE
    text = service.read_text(encoding="utf-8")
    old = int(re.search(r"^version: (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    service.write_text(text.replace(f"\nversion: {old}\n", f"\nversion: {old + 1}\n", 1), encoding="utf-8")
    return old + 1


def _in_child(store: CatalogueStore) -> CatalogueStore:
    store.child_from_files = 0  # the seed tree is below the size where a child pays for itself
    return store


def test_the_catalogue_read_back_equals_the_one_loaded() -> None:
    loaded = load_catalogue(DEFINITIONS)
    stream = io.BytesIO()
    write_catalogue(DEFINITIONS, stream)
    stream.seek(0)
    steps = read_catalogue_steps(stream)
    read = run_steps(steps)
    assert read.version == loaded.version
    assert list(read.services) == list(loaded.services)
    assert dict(read.services) == dict(loaded.services)
    assert dict(read.departments) == dict(loaded.departments)
    assert dict(read.option_lists) == dict(loaded.option_lists)
    assert read.taxonomy == loaded.taxonomy
    assert read.feeds_file == loaded.feeds_file
    assert {slug: s.content_hash for slug, s in read.services.items()} == {
        slug: s.content_hash for slug, s in loaded.services.items()
    }
    assert gc.isenabled()


def test_expressions_read_back_are_compiled_again() -> None:
    stream = io.BytesIO()
    write_catalogue(DEFINITIONS, stream)
    stream.seek(0)
    read = run_steps(read_catalogue_steps(stream))
    loaded = load_catalogue(DEFINITIONS)
    pairs = [
        (step.when, original.when)
        for slug, service in read.services.items()
        for step, original in zip(service.steps, loaded.services[slug].steps, strict=True)
        if step.when is not None and original.when is not None
    ]
    assert len(pairs) > 5
    for expression, original in pairs:
        assert expression == original
        assert expression.variables() == original.variables()
        assert expression.functions() == original.functions()



def test_what_services_share_is_read_back_as_one_object() -> None:
    stream = io.BytesIO()
    write_catalogue(DEFINITIONS, stream)
    stream.seek(0)
    services: list[Service] = list(run_steps(read_catalogue_steps(stream)).services.values())
    # The shared sets of given keys and the interned texts stay shared: a reload does not grow the memory.
    models = [model for service in services for model in models_in(service)]
    sets = {id(model.__pydantic_fields_set__): frozenset(model.__pydantic_fields_set__) for model in models}
    assert len(models) > 1000
    assert len(sets) == len(set(sets.values()))
    by_department: dict[str, Service] = {}
    shared = 0
    for service in services:
        other = by_department.setdefault(service.department, service)
        if other is not service:
            assert other.department is service.department
            shared += 1
    assert shared > 0


def test_problems_come_back_as_a_catalogue_error() -> None:
    from onestop.catalogue import CatalogueError

    broken = Path(tempfile.mkdtemp()) / "definitions"
    shutil.copytree(DEFINITIONS, broken)
    (broken / SERVICE).write_text("id: renew-driving-licence\nversion: [\n", encoding="utf-8")
    stream = io.BytesIO()
    write_catalogue(broken, stream)
    stream.seek(0)
    with pytest.raises(CatalogueError) as raised:
        run_steps(read_catalogue_steps(stream))
    assert [(p.code, Path(p.path).name) for p in raised.value.problems] == [
        ("YAML_SYNTAX", "renew-driving-licence.yaml")
    ]
    shutil.rmtree(broken.parent)


async def _turns_while(task: asyncio.Task[bool]) -> int:
    turns = 0
    while not task.done():
        await asyncio.sleep(0)
        turns += 1
    return turns


async def test_a_reload_in_a_child_process_swaps_the_new_version_in(tree: Path) -> None:
    store = _in_child(await CatalogueStore.open(tree, reload_in_child=True))
    before = store.catalogue.version
    version = _bump_version(tree)
    reload = asyncio.get_running_loop().create_task(store.reload())
    turns = await _turns_while(reload)
    assert reload.result()
    assert store.catalogue.version != before
    assert store.catalogue.services["renew-driving-licence"].version == version
    assert store.index.search("driving licence")[0].id == "renew-driving-licence"
    assert turns >= 10  # the child's start, then each service read back, each a turn of the loop
    assert list((tree.parent / "tmp").iterdir()) == []  # the child's file is gone
    assert gc.isenabled()


async def test_a_broken_tree_reloaded_in_a_child_keeps_the_catalogue_with_the_loop_s_problems(tree: Path) -> None:
    in_child = _in_child(await CatalogueStore.open(tree, reload_in_child=True))
    on_loop = await CatalogueStore.open(tree)
    before = in_child.catalogue.version
    (tree / SERVICE).write_text("id: renew-driving-licence\nversion: [\nsteps: x\n", encoding="utf-8")
    assert not await in_child.reload()
    assert not await on_loop.reload()
    assert in_child.catalogue.version == before
    assert in_child.problems == on_loop.problems
    assert [problem.code for problem in in_child.problems] == ["YAML_SYNTAX"]
    assert list((tree.parent / "tmp").iterdir()) == []


async def test_a_child_that_fails_leaves_the_reload_to_the_loop(
    tree: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = _in_child(await CatalogueStore.open(tree, reload_in_child=True))
    version = _bump_version(tree)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the child exits 1 without a result
    assert await store.reload()
    assert store.catalogue.services["renew-driving-licence"].version == version
    assert "catalogue child process failed" in caplog.text
    assert list((tree.parent / "tmp").iterdir()) == []


async def test_a_child_that_leaves_no_catalogue_leaves_the_reload_to_the_loop(
    tree: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from onestop.engine import catalogue_store

    store = _in_child(await CatalogueStore.open(tree, reload_in_child=True))
    version = _bump_version(tree)
    empty = tree.parent / "tmp" / "empty.pickle"

    async def truncated(root: Path, known: bytes | None = None) -> Path:
        empty.write_bytes(b"")
        return empty

    monkeypatch.setattr(catalogue_store, "load_in_child", truncated)
    assert await store.reload()
    assert store.catalogue.services["renew-driving-licence"].version == version
    assert "catalogue child process failed" in caplog.text
    assert not empty.exists()


async def test_a_small_tree_reloads_on_the_loop(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onestop.engine import catalogue_store

    store = await CatalogueStore.open(tree, reload_in_child=True)
    assert store.child_from_files == catalogue_store.CHILD_FROM_FILES > len(DEFINITIONS_FILES)

    async def refused(root: Path, known: bytes | None = None) -> Path:
        raise AssertionError("no child for a small tree")

    monkeypatch.setattr(catalogue_store, "load_in_child", refused)
    version = _bump_version(tree)
    assert await store.reload()
    assert store.catalogue.services["renew-driving-licence"].version == version
