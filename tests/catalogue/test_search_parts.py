"""A search index handed over in pieces (``SearchIndex.parts``, ``from_parts``) answers as the one it came from."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from onestop.catalogue import load_catalogue
from onestop.catalogue.catalogue import run_steps
from onestop.catalogue.search import _PART_DOCS, _PART_POSTINGS, _PART_WORDS, SearchIndex

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
QUERIES = ["driving licence", "drivng licnce", "licen", "passport", "長者", "长者", "駕駛執照", "tax return",
           "business", "車", "birth certificate", "renew", "apply for a", "voter registration", "zzzz"]


@pytest.fixture(scope="module")
def built() -> SearchIndex:
    return SearchIndex.build(load_catalogue(DEFINITIONS))


def _pickled_parts(index: SearchIndex) -> list[bytes]:
    return [pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL) for part in index.parts()]


@pytest.mark.parametrize("query", QUERIES)
def test_an_index_put_together_from_its_pickled_parts_answers_the_same(built: SearchIndex, query: str) -> None:
    parts = (pickle.loads(part) for part in _pickled_parts(built))  # noqa: S301 - our own bytes
    shipped = run_steps(SearchIndex.from_parts(parts))
    assert shipped.search(query) == built.search(query)
    assert shipped.search_page(query, offset=1, limit=3, theme="transport") == built.search_page(
        query, offset=1, limit=3, theme="transport")


def test_an_index_put_together_from_parts_filters_and_recommends_the_same(built: SearchIndex) -> None:
    shipped = run_steps(SearchIndex.from_parts(built.parts()))
    assert shipped.documents == built.documents
    assert len(shipped) == len(built)
    for theme in ("transport", "welfare", "health", None):
        assert shipped.filter(theme=theme) == built.filter(theme=theme)
    for group in ("elderly", "youth", None):
        assert shipped.recommend(group) == built.recommend(group)
    assert shipped.filter(department="TD") == built.filter(department="TD")


def test_a_large_index_comes_in_many_small_parts() -> None:
    from onestop.catalogue.search import SearchDocument

    docs = [SearchDocument(id=f"s{number}", title={"en": f"Service number {number} word{number % 997}"},
                           summary={"en": f"summary{number} of apply renew"}) for number in range(3000)]
    built = SearchIndex(docs)
    parts = list(built.parts())
    assert len(parts) > 10
    assert max(len(part) for kind, part in parts if kind in ("docs", "surface")) <= max(_PART_WORDS, _PART_DOCS)
    assert max(sum(len(postings) for _, postings in part) for kind, part in parts if kind == "postings") <= (
        _PART_POSTINGS + 3000)
    shipped = run_steps(SearchIndex.from_parts(parts))
    for query in ("word5", "wrd5", "summary12", "apply", "servce"):
        assert shipped.search(query) == built.search(query)


def test_an_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown search index part"):
        run_steps(SearchIndex.from_parts([("mystery", None)]))
