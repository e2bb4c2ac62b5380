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


def test_only_a_bounded_number_of_headers_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(language, "_SEEN", {})
    for number in range(language._SEEN_MAX + 50):
        assert request_language(f"x-{number}, zh-HK") is Lang.TC
    assert len(language._SEEN) == language._SEEN_MAX
    assert request_language("zh-CN") is Lang.SC  # not remembered now, still answered
