"""The response language: ``Accept-Language`` -> ``Lang`` (texts then fall back to English)."""

from __future__ import annotations

import functools

from onestop.catalogue.text import Lang

# Browsers send a handful of distinct headers; parsing one is far dearer than looking it up. Only short values are
# kept (a real header is a few dozen characters), so a client sending long, ever-changing ones pins no memory.
_KEPT_LENGTH = 100


@functools.lru_cache(maxsize=256)
def _language(accept_language: str) -> Lang:
    return Lang.from_accept_language(accept_language)


def request_language(accept_language: str | None) -> Lang:
    """en, zh-HK/zh-TW/zh-Hant -> tc, zh-CN/zh-SG/zh-Hans -> sc; anything else English."""
    if not accept_language:
        return Lang.EN
    if len(accept_language) > _KEPT_LENGTH:
        return Lang.from_accept_language(accept_language)
    return _language(accept_language)
