"""A reload keeps what did not change: services by content hash (the same objects), and the search index when no
searchable text moved; a reload child sends only what changed, and the index it built when one is needed."""

from __future__ import annotations

import gc
import io
import pickle
import re
from pathlib import Path

import pytest

from onestop.catalogue import load_catalogue
from onestop.catalogue.catalogue import run_steps
from onestop.catalogue.search import SearchIndex
from onestop.catalogue.transfer import CatalogueReader, write_catalogue
from onestop.engine import catalogue_store
from onestop.engine.catalogue_store import CatalogueStore

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
SERVICE = Path("services/transport/renew-driving-licence.yaml")
SLUG = "renew-driving-licence"
QUERIES = ["driving licence", "Quarterly", "quartrly", "licen", "長者", "passport", "renew", "business"]



def _edit(tree: Path, *, title: str | None = None) -> None:
    """Bump the service's version, and with ``title`` change its English title (its search text) too."""
    path = tree / SERVICE
    text = path.read_text(encoding="utf-8")
    old = int(re.search(r"^version: (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    text = text.replace(f"\nversion: {old}\n", f"\nversion: {old + 1}\n", 1)
    if title is not None:
        text = text.replace("title: {en: Renew a full driving licence,", f"title: {{en: {title},", 1)
        assert title in text
    path.write_text(text, encoding="utf-8")


async def _store(tree: Path, *, in_child: bool) -> CatalogueStore:
    store = await CatalogueStore.open(tree, reload_in_child=in_child)
    store.child_from_files = 0  # the seed tree is below the size where a child pays for itself
    return store


def _no_index_built_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(catalogue: object) -> object:
        raise AssertionError("the search index was built on the loop")

    monkeypatch.setattr(SearchIndex, "build_steps", refused)


@pytest.mark.parametrize("in_child", [True, False], ids=["child", "loop"])
async def test_unchanged_services_are_kept_by_identity_and_so_is_the_index(
    tree: Path, in_child: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _store(tree, in_child=in_child)
    before = store.snapshot
    _edit(tree)
    _no_index_built_on_the_loop(monkeypatch)
    assert await store.reload()
    after = store.snapshot
    assert after.catalogue.version != before.catalogue.version
    changed = [slug for slug, service in after.catalogue.services.items()
               if service is not before.catalogue.services[slug]]
    assert changed == [SLUG]
    assert after.catalogue.services[SLUG].version == before.catalogue.services[SLUG].version + 1
    assert after.index is before.index  # no searchable text moved
    assert store.index.search("driving licence")[0].id == SLUG


@pytest.mark.parametrize("in_child", [True, False], ids=["child", "loop"])
async def test_a_changed_title_gets_an_index_that_answers_as_one_built_in_process(
    tree: Path, in_child: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _store(tree, in_child=in_child)
    before = store.snapshot
    _edit(tree, title="Quarterly driving permit")
    if in_child:
        _no_index_built_on_the_loop(monkeypatch)  # the child's index is used
    assert await store.reload()
    monkeypatch.undo()
    assert store.index is not before.index
    in_process = SearchIndex.build(load_catalogue(tree))
    assert store.index.documents == in_process.documents
    for query in QUERIES:
        assert store.index.search(query) == in_process.search(query), query
    assert store.index.search("quartrly")[0].id == SLUG
    assert store.index.filter(theme="transport") == in_process.filter(theme="transport")
    assert store.index.recommend("elderly") == in_process.recommend("elderly")


async def test_an_unchanged_tree_touched_reloads_without_a_new_snapshot(tree: Path) -> None:
    store = await _store(tree, in_child=True)
    before = store.snapshot
    (tree / SERVICE).touch()
    assert await store.reload()
    assert store.snapshot is before


def test_the_child_writes_unchanged_services_as_their_slugs_and_no_index() -> None:
    held = load_catalogue(DEFINITIONS)
    known = {slug: service.content_hash for slug, service in held.services.items()}
    stream = io.BytesIO()
    write_catalogue(DEFINITIONS, stream, known, index=True)
    everything = io.BytesIO()
    write_catalogue(DEFINITIONS, everything)
    assert len(stream.getvalue()) * 5 < len(everything.getvalue())  # the header (taxonomy, departments) remains
    stream.seek(0)
    reader = CatalogueReader(stream, held.services)
    read = run_steps(reader.catalogue_steps())
    assert reader.reused == len(held.services)
    assert not reader.has_index
    assert all(read.services[slug] is service for slug, service in held.services.items())
    assert read.version == held.version


def test_the_child_sends_a_changed_service_whole_and_the_index(tree: Path) -> None:
    held = load_catalogue(tree)
    known = {slug: service.content_hash for slug, service in held.services.items()}
    _edit(tree, title="Quarterly driving permit")
    stream = io.BytesIO()
    write_catalogue(tree, stream, known, index=True)
    stream.seek(0)
    reader = CatalogueReader(stream, held.services)
    read = run_steps(reader.catalogue_steps())
    assert reader.reused == len(held.services) - 1
    assert read.services[SLUG] is not held.services[SLUG]
    assert reader.has_index
    index = run_steps(reader.index_steps())
    assert index.search("quarterly")[0].id == SLUG
    assert index.documents == SearchIndex.build(load_catalogue(tree)).documents


def test_a_service_written_as_known_but_not_held_is_refused() -> None:
    held = load_catalogue(DEFINITIONS)
    known = {slug: service.content_hash for slug, service in held.services.items()}
    stream = io.BytesIO()
    write_catalogue(DEFINITIONS, stream, known)
    stream.seek(0)
    reader = CatalogueReader(stream, {})
    with pytest.raises(pickle.UnpicklingError, match="not held"):
        run_steps(reader.catalogue_steps())


async def test_a_child_result_that_cannot_be_read_back_leaves_the_reload_to_the_loop(
    tree: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _store(tree, in_child=True)
    _edit(tree)
    written = tree.parent / "tmp" / "known.pickle"

    async def claims_everything_known(root: Path, known: bytes | None = None) -> Path:
        with written.open("wb") as file:
            write_catalogue(root, file, {slug: "x" for slug in store.catalogue.services} | {"ghost": "x"})
        return written

    monkeypatch.setattr(catalogue_store, "load_in_child", claims_everything_known)
    assert await store.reload()
    assert store.catalogue.services[SLUG].version == load_catalogue(tree).services[SLUG].version
    assert not written.exists()


def test_a_catalogue_and_its_index_hold_no_reference_cycles() -> None:
    # The store freezes a reloaded catalogue out of the collector's reach: safe only because reference counting
    # alone frees it when it is replaced.
    def load_and_drop() -> None:
        catalogue = load_catalogue(DEFINITIONS)
        index = SearchIndex.build(catalogue)
        for service in catalogue.services.values():
            service.content_hash  # noqa: B018 - cached on the service, as a reload leaves it
        assert index.search("driving licence")
        assert catalogue.assurance  # the cached property too

    gc.collect()
    load_and_drop()
    assert gc.collect() == 0


@pytest.mark.parametrize("in_child", [True, False], ids=["child", "loop"])
async def test_a_reloaded_catalogue_is_frozen_out_of_the_collector_s_passes(tree: Path, in_child: bool) -> None:
    store = await _store(tree, in_child=in_child)
    frozen = gc.get_freeze_count()
    _edit(tree, title="Quarterly driving permit")
    assert await store.reload()
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen + 1000
    assert store.index.search("quarterly")[0].id == SLUG


def test_a_replaced_index_is_let_go_of_in_pieces() -> None:
    import weakref
    from types import SimpleNamespace
    from typing import Any, cast

    from onestop.catalogue.search import SearchDocument
    from onestop.engine.catalogue_store import _released

    def holder() -> list[Any]:
        docs = [SearchDocument(id=f"s{number}", title={"en": f"service {number} word{number}"})
                for number in range(2000)]
        return [cast(Any, SimpleNamespace(catalogue=SimpleNamespace(services={}), index=SearchIndex(docs)))]

    kept = holder()
    kept_steps = sum(1 for _ in _released(kept, index_kept=True))
    replaced = holder()
    index = weakref.ref(replaced[0].index)
    steps = _released(replaced, index_kept=False)
    taken = 0
    while replaced:
        next(steps)
        taken += 1
    next(steps)
    assert index() is None  # the index went, its pieces are still held and let go of step by step
    assert taken + 1 + sum(1 for _ in steps) > kept_steps + 10
