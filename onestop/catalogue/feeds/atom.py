"""Atom 1.0 (RFC 4287): the sandbox programme's news, kept as an Atom feed in ``definitions/feeds/``."""

from __future__ import annotations

from datetime import datetime

from onestop.catalogue.feeds.models import FeedFormatError, FeedItem, SandboxNews
from onestop.catalogue.feeds.xmldoc import child_text, local_name, parse_xml, plain_text
from onestop.catalogue.text import Lang, to_simplified

ATOM = "http://www.w3.org/2005/Atom"


def _stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else None


def parse_sandbox_news(data: bytes, lang: Lang, *, source: str = "sandbox-news") -> SandboxNews:
    """The feed's title and entries, newest first; raises ``FeedFormatError``."""
    lang = Lang(lang)
    root = parse_xml(data, source)
    if root.tag != f"{{{ATOM}}}feed":
        raise FeedFormatError(source, f"the root element is <{root.tag}>, expected an Atom <feed>", where="$")
    convert = to_simplified if lang is Lang.SC else str
    items = []
    for position, entry in enumerate(e for e in root if local_name(e) == "entry"):
        where = f"feed.entry[{position}]"
        title, ident = child_text(entry, "title"), child_text(entry, "id")
        if not title or not ident:
            raise FeedFormatError(source, "an entry needs an <id> and a <title> (RFC 4287 4.1.2)", where=where)
        updated = _stamp(child_text(entry, "published") or child_text(entry, "updated"))
        if updated is None:
            raise FeedFormatError(source, "an entry needs an <updated> date-time with an offset", where=where)
        link = next(
            (
                child.get("href")
                for child in entry
                if local_name(child) == "link" and child.get("rel", "alternate") == "alternate"
            ),
            None,
        )
        summary = child_text(entry, "summary") or child_text(entry, "content") or ""
        items.append(
            FeedItem(
                id=ident, title=convert(title), summary=convert(plain_text(summary)), link=link, published_at=updated
            )
        )
    items.sort(key=lambda item: item.published_at.timestamp() if item.published_at else 0.0, reverse=True)
    return SandboxNews(language=lang, title=convert(child_text(root, "title") or ""), items=tuple(items))
