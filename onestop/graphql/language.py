"""The response language: ``Accept-Language`` -> ``Lang``; texts fall back to English."""

from __future__ import annotations

from typing import Protocol

from onestop.catalogue.text import Lang


class _Localized(Protocol):
    def get(self, lang: Lang) -> str: ...


def request_language(accept_language: str | None) -> Lang:
    """en, zh-HK/zh-TW/zh-Hant -> tc, zh-CN/zh-SG/zh-Hans -> sc; anything else English."""
    if not accept_language:
        return Lang.EN
    return Lang.from_accept_language(accept_language)


def text(value: _Localized | None, lang: Lang) -> str | None:
    """A localized text in ``lang`` (the text's own fallback chain ends in English)."""
    return None if value is None else value.get(lang)
