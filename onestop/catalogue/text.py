"""Languages and texts in English, Traditional Chinese and Simplified Chinese."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, field_validator, model_validator
from pydantic_core import PydanticCustomError

from onestop.catalogue.models import share_fields_set


class Lang(StrEnum):
    EN = "en"
    TC = "tc"
    SC = "sc"

    @classmethod
    def from_tag(cls, tag: str) -> Lang | None:
        """The language of one BCP 47 tag, or None when we do not serve it."""
        parts = [part.lower() for part in tag.strip().split("-") if part]
        if not parts:
            return None
        if parts[0] == "en":
            return cls.EN
        if parts[0] != "zh":
            return None
        rest = set(parts[1:])
        if rest & {"hans", "cn", "sg"}:
            return cls.SC
        # Bare "zh" means Traditional here: Hong Kong is the audience.
        return cls.TC

    @classmethod
    def from_accept_language(cls, header: str | None) -> Lang:
        """The best served language for an ``Accept-Language`` header; English when none matches."""
        ranked: list[tuple[float, int, Lang]] = []
        for index, item in enumerate((header or "").split(",")):
            tag, _, params = item.partition(";")
            quality = 1.0
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            lang = cls.from_tag(tag)
            if lang is not None and quality > 0:
                ranked.append((-quality, index, lang))
        return min(ranked)[2] if ranked else cls.EN


@functools.cache
def _t2s() -> Any:
    # Built on first use: OpenCC reads its dictionaries from disk, and importing us must do no I/O.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese converted to Simplified by OpenCC."""
    return str(_t2s().convert(text))


# Definition texts recur (every service has "Name in English", every reload reads the same files again) and
# the conversion is pure but slow, so theirs is cached; feed texts change all day and stay uncached.
_derived_sc = functools.lru_cache(maxsize=1 << 16)(to_simplified)


def _missing(data: Any, key: str) -> bool:
    return isinstance(data, dict) and (key not in data or data[key] is None)


def _require_translations(data: Any) -> None:
    if not isinstance(data, dict):
        return
    absent = [key for key in ("en", "tc") if _missing(data, key)]
    if absent:
        raise PydanticCustomError(
            "missing_translation",
            "missing translation: {langs} (every text needs en and tc; sc is derived when omitted)",
            {"langs": " and ".join(absent)},
        )


def _sc_optional(schema: dict[str, Any]) -> None:
    # sc is always present after loading but authors may omit it: the editor schema must not demand it.
    schema["required"] = [key for key in schema.get("required", []) if key != "sc"]


# Validated texts by what was written (en, tc, sc or None): the same labels recur in every definition ("Name in
# English", "Yes", "Date of birth"), the models are frozen, so one instance serves them all, once validated, in less
# memory. Only successes are kept, and only plain texts, so a bad text reports its errors every time.
_TEXTS: dict[tuple[str, str, str | None], LocalizedText] = {}
_TEXTS_LIMIT = 1 << 16
_LANGS = frozenset(("en", "tc", "sc"))


def _text_key(data: Any) -> tuple[str, str, str | None] | None:
    if type(data) is not dict or not data.keys() <= _LANGS:
        return None
    en, tc, sc = data.get("en"), data.get("tc"), data.get("sc")
    if type(en) is not str or type(tc) is not str or (sc is not None and type(sc) is not str):
        return None
    return en, tc, sc


_FALLBACK = {Lang.EN: ("en", "tc", "sc"), Lang.TC: ("tc", "sc", "en"), Lang.SC: ("sc", "tc", "en")}


def localized(text: Mapping[str, str] | None, lang: Lang | str) -> str | None:
    """The text in ``lang``, else the other Chinese script, else English (None when there is no text at all).

    The one fallback rule, for catalogue texts and for the plain ``{"en": ..}`` dicts of snapshots and errors.
    """
    if not text:
        return None
    for key in _FALLBACK[lang if type(lang) is Lang else Lang(lang)]:  # every resolver calls it: no genexpr
        found = text.get(key)
        if found:
            return found
    return None


class LocalizedText(BaseModel):
    """A text in en and tc (required) and sc (derived from tc by OpenCC when omitted)."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_sc_optional)

    en: str
    tc: str
    sc: str

    def model_post_init(self, context: Any, /) -> None:
        share_fields_set(self)

    @model_validator(mode="wrap")
    @classmethod
    def _derive_simplified(cls, data: Any, handler: ModelWrapValidatorHandler[LocalizedText]) -> LocalizedText:
        key = _text_key(data) if cls is LocalizedText else None
        if key is not None and (found := _TEXTS.get(key)) is not None:
            return found
        _require_translations(data)
        if isinstance(data, dict) and _missing(data, "sc") and isinstance(data.get("tc"), str):
            data = {**data, "sc": _derived_sc(data["tc"])}
        text = handler(data)
        if key is not None:
            if len(_TEXTS) >= _TEXTS_LIMIT:
                _TEXTS.clear()
            _TEXTS[key] = text
        return text

    @field_validator("en", "tc", "sc")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("missing_translation", "the text is empty: write it in this language")
        return value

    def get(self, lang: Lang | str) -> str:
        """The text in ``lang``; the other Chinese script, then English, when that one is empty."""
        return next((text for key in _FALLBACK[Lang(lang)] if (text := getattr(self, key))), self.en)


class LocalizedList(BaseModel):
    """Lists of words per language (keywords); sc derived from tc when omitted."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_sc_optional)

    en: tuple[str, ...]
    tc: tuple[str, ...]
    sc: tuple[str, ...]

    def model_post_init(self, context: Any, /) -> None:
        share_fields_set(self)

    @model_validator(mode="before")
    @classmethod
    def _derive_simplified(cls, data: Any) -> Any:
        _require_translations(data)
        tc = data.get("tc") if isinstance(data, dict) else None
        if isinstance(data, dict) and _missing(data, "sc") and isinstance(tc, list | tuple):
            return {**data, "sc": [_derived_sc(word) if isinstance(word, str) else word for word in tc]}
        return data

    def get(self, lang: Lang | str) -> tuple[str, ...]:
        """The words in ``lang`` (sc and tc fall back to each other)."""
        lang = Lang(lang)
        if lang is Lang.EN:
            return self.en
        first, second = (self.tc, self.sc) if lang is Lang.TC else (self.sc, self.tc)
        return first or second

    def all(self) -> tuple[str, ...]:
        """Every word in every language, for search indexing."""
        return self.en + self.tc + self.sc
