"""The response language: ``Accept-Language`` -> ``Lang`` (texts then fall back to English)."""

from __future__ import annotations

import functools

from onestop.catalogue.text import Lang

_SEEN: dict[str, Lang] = {}
_SEEN_MAX = 256  # clients send a few distinct headers; any other is parsed each time once this is full


# Browsers send a handful of distinct headers; parsing one is far dearer than looking it up.
@functools.lru_cache(maxsize=256)
def request_language(accept_language: str | None) -> Lang:
    """en, zh-HK/zh-TW/zh-Hant -> tc, zh-CN/zh-SG/zh-Hans -> sc; anything else English."""
    if not accept_language:
        return Lang.EN
    found = _SEEN.get(accept_language)
    if found is None:
        found = Lang.from_accept_language(accept_language)
        if len(_SEEN) < _SEEN_MAX:
            _SEEN[accept_language] = found
    return found

