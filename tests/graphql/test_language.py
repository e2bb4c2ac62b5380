"""The response language of a request, from its Accept-Language header (remembered for the few headers clients send)."""

from __future__ import annotations

import pytest

from onestop.catalogue.text import Lang
from onestop.graphql import language
from onestop.graphql.language import request_language


@pytest.mark.parametrize(("header", "lang"), [(None, Lang.EN), ("", Lang.EN), ("zh-HK", Lang.TC),
                                              ("zh-CN,en;q=0.5", Lang.SC), ("fr, zh-Hant;q=0.1", Lang.TC),
                                              ("de", Lang.EN)])
def test_a_header_gets_the_same_language_every_time(header: str | None, lang: Lang) -> None:
    assert request_language(header) is lang
    assert request_language(header) is lang
    assert request_language(header) is (Lang.from_accept_language(header) if header else Lang.EN)


def test_only_a_bounded_number_of_short_headers_is_remembered() -> None:
    language._language.cache_clear()
    for number in range(300):
        assert request_language(f"x-{number}, zh-HK") is Lang.TC
    assert language._language.cache_info().currsize == 256
    long = "x-" * 1000 + ", zh-CN"  # longer than any real header: parsed, never kept
    assert request_language(long) is Lang.SC
    assert language._language.cache_info().currsize == 256
    assert language._language.cache_info().misses == 300
