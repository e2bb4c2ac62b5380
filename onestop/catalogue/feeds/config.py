"""``feeds.yaml``: which public information feeds exist, their format adapters and where their data comes from."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from onestop.catalogue.feeds.adapters import ADAPTERS, Adapter
from onestop.catalogue.feeds.models import FeedFormatError, FeedKind
from onestop.catalogue.loader import load_file
from onestop.catalogue.models import DefinitionModel, Duration, Slug, duration
from onestop.catalogue.problems import CatalogueError, Problem
from onestop.catalogue.text import Lang


class FeedSource(DefinitionModel):
    """A local ``file`` (relative to ``definitions/``; the embedded default) or an HTTP(S) ``url``."""

    file: str | None = Field(default=None, description="path under definitions/, e.g. feeds/hko-rhrread-en.json")
    url: str | None = Field(default=None, description="http(s) URL fetched every `refresh`")
    refresh: Duration = Field(default="PT10M", description="ISO-8601 duration between fetches (url only)")
    timeout: Duration = Field(default="PT10S", description="ISO-8601 duration one fetch may take (url only)")

    @field_validator("file")
    @classmethod
    def _inside_definitions(cls, value: str | None) -> str | None:
        if value is not None:
            path = PurePosixPath(value)
            if path.is_absolute() or ".." in path.parts or not value.strip():
                raise ValueError(f"'{value}' must be a relative path inside definitions/, e.g. feeds/weather.json")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"'{value}' is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_place(self) -> FeedSource:
        if (self.file is None) == (self.url is None):
            raise ValueError("give exactly one of 'file' (a local file) or 'url' (fetched over HTTP)")
        if duration(self.refresh) < dt.timedelta(seconds=10):
            raise ValueError(f"refresh {self.refresh} is too short: at least PT10S, publishers update every minutes")
        if not dt.timedelta(0) < duration(self.timeout) <= dt.timedelta(minutes=2):
            raise ValueError(f"timeout {self.timeout} must be more than zero and at most PT2M")
        return self

    @property
    def refresh_seconds(self) -> float:
        return duration(self.refresh).total_seconds()

    @property
    def timeout_seconds(self) -> float:
        return duration(self.timeout).total_seconds()


class FeedDefinition(DefinitionModel):
    """One feed: its kind, the adapter that reads its format, and its source(s)."""

    id: Slug
    kind: FeedKind
    format: str = Field(description="adapter: " + ", ".join(ADAPTERS), json_schema_extra={"enum": list(ADAPTERS)})
    source: FeedSource = Field(description="used for every language not listed under `languages`")
    languages: dict[Lang, FeedSource] = Field(
        default_factory=dict, description="per-language sources; sc falls back to tc's, converted by OpenCC")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str, info: ValidationInfo) -> str:
        adapter = ADAPTERS.get(value)
        if adapter is None:
            raise ValueError(f"unknown format '{value}'; known formats: {', '.join(ADAPTERS)}")
        kind = info.data.get("kind")
        if kind is not None and adapter.kind is not kind:
            raise ValueError(f"format '{value}' reads {adapter.kind.value} feeds, not {kind.value}; "
                             f"use one of: {', '.join(a.name for a in ADAPTERS.values() if a.kind is kind)}")
        return value

    @property
    def adapter(self) -> Adapter:
        return ADAPTERS[self.format]

    def source_for(self, lang: Lang | str) -> FeedSource:
        """Where ``lang`` is read from: its own source, for sc the tc one (converted), else ``source``."""
        lang = Lang(lang)
        if lang in self.languages:
            return self.languages[lang]
        if lang is Lang.SC and Lang.TC in self.languages:
            return self.languages[Lang.TC]
        return self.source


class FeedsConfig(DefinitionModel):
    """Every public information feed; at most one per kind (``publicInfo`` shows one of each).

    ``load_feeds`` checks what one model cannot: unique ids and kinds, files that exist and parse.
    """

    feeds: tuple[FeedDefinition, ...] = ()

    def feed(self, kind: FeedKind | str) -> FeedDefinition | None:
        return next((feed for feed in self.feeds if feed.kind == kind), None)


def load_feeds(root: Path, file: Path | None = None) -> FeedsConfig:
    """Load and check ``root/feeds.yaml``: keys, adapters, and that every local file exists and parses.

    A tree without the file has no feeds. Raises ``CatalogueError`` with every problem found.
    """
    file = file or root / "feeds.yaml"
    if not file.exists():
        return FeedsConfig()
    config, source, problems = load_file(file, FeedsConfig)
    if config is None or source is None:
        raise CatalogueError(problems or [Problem(str(file), 1, 1, "INVALID_VALUE", "feeds.yaml did not load")])
    seen: dict[tuple[str, str], int] = {}
    for position, feed in enumerate(config.feeds):
        for attribute, value in (("id", feed.id), ("kind", feed.kind.value)):
            if (attribute, value) in seen:
                problems.append(source.problem(
                    ("feeds", position, attribute), "DUPLICATE_FEED",
                    f"another feed (number {seen[attribute, value] + 1}) already has {attribute} '{value}'",
                    "each id and each kind may appear once: publicInfo shows one feed of each kind"))
            seen.setdefault((attribute, value), position)
        places: list[tuple[tuple[str | int, ...], FeedSource, Lang]] = [
            (("feeds", position, "source"), feed.source, Lang.EN)]
        places += [(("feeds", position, "languages", lang.value), src, lang) for lang, src in feed.languages.items()]
        for loc, src, lang in places:
            if src.file is None:
                continue
            path = root / src.file
            if not path.is_file():
                problems.append(source.problem((*loc, "file"), "MISSING_FILE",
                                               f"feed data file '{src.file}' does not exist under {root}",
                                               "write the file or correct the path (relative to definitions/)"))
                continue
            try:
                feed.adapter.parse(path.read_bytes(), lang, source=str(path))
            except FeedFormatError as exc:
                problems.append(source.problem(
                    (*loc, "file"), "FEED_FORMAT",
                    f"'{src.file}' is not valid {feed.format} data: {exc.problems[0].format()}"))
    if problems:
        raise CatalogueError(problems)
    return config
