"""RSS 2.0 feeds of the Centre for Food Safety (food alerts) and of the government's press releases."""

from __future__ import annotations

import email.utils
from datetime import datetime
from xml.etree.ElementTree import Element

from onestop.catalogue.feeds.models import Announcements, FeedFormatError, FeedItem, FoodSafetyAlerts
from onestop.catalogue.feeds.xmldoc import HONG_KONG, child_text, local_name, parse_xml, plain_text
from onestop.catalogue.text import Lang, to_simplified


def _published(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=HONG_KONG)


def _channel(data: bytes, source: str) -> Element:
    root = parse_xml(data, source)
    if local_name(root) != "rss":
        raise FeedFormatError(source, f"the root element is <{local_name(root)}>, expected <rss>", where="$")
    channel = next((child for child in root if local_name(child) == "channel"), None)
    if channel is None:
        raise FeedFormatError(source, "no <channel> in the RSS document", where="rss")
    return channel


def parse_rss(data: bytes, lang: Lang, *, source: str = "rss") -> tuple[str, tuple[FeedItem, ...]]:
    """The channel title and its items, newest first; raises ``FeedFormatError``."""
    lang = Lang(lang)
    channel = _channel(data, source)
    convert = to_simplified if lang is Lang.SC else str
    items = []
    for position, entry in enumerate(e for e in channel if local_name(e) == "item"):
        title = child_text(entry, "title")
        if not title:
            raise FeedFormatError(source, "an item without a title", where=f"channel.item[{position}]")
        link = child_text(entry, "link") or None
        items.append(FeedItem(
            id=child_text(entry, "guid") or link or f"{source}#{position}",
            title=convert(title),
            summary=convert(plain_text(child_text(entry, "description") or "")),
            link=link,
            published_at=_published(child_text(entry, "pubDate")),
        ))
    # Publishers list newest first, but not all promise it; an undated item sorts last.
    items.sort(key=lambda item: item.published_at.timestamp() if item.published_at else float("-inf"),
               reverse=True)
    return convert(child_text(channel, "title") or ""), tuple(items)


def parse_food_safety_alerts(data: bytes, lang: Lang, *, source: str = "cfs-food-alerts") -> FoodSafetyAlerts:
    """Centre for Food Safety food alerts from its RSS feed."""
    title, items = parse_rss(data, lang, source=source)
    return FoodSafetyAlerts(language=lang, title=title, items=items)


def parse_press_releases(data: bytes, lang: Lang, *, source: str = "press-releases") -> Announcements:
    """Government press releases from the Information Services Department's RSS feed."""
    title, items = parse_rss(data, lang, source=source)
    return Announcements(language=lang, title=title, items=items)
