"""The response language: ``Accept-Language`` -> ``Lang`` (texts then fall back to English)."""

from __future__ import annotations

import functools

from onestop.catalogue.text import Lang


# Browsers send a handful of distinct headers; parsing one is far dearer than looking it up.
@functools.lru_cache(maxsize=256)
def request_language(accept_language: str | None) -> Lang:
    """en, zh-HK/zh-TW/zh-Hant -> tc, zh-CN/zh-SG/zh-Hans -> sc; anything else English."""
    if not accept_language:
        return Lang.EN
    return Lang.from_accept_language(accept_language)

