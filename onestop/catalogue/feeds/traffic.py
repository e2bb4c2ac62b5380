"""Transport Department special traffic news (``specialtrafficnews.xml``).

One bilingual XML document: ``<body xmlns="http://data.one.gov.hk/td">`` holding ``<message>`` elements with
``msgID``, ``CurrentStatus``, ``EngShort``/``EngText``, ``ChinShort``/``ChinText``, ``ReferenceDate`` (local
time, Chinese AM/PM markers) and ``IncidentRefNo``. The language picks which texts are read; Simplified
Chinese is converted from the Traditional text.
"""

from __future__ import annotations

from onestop.catalogue.feeds.models import FeedFormatError, TrafficNews, TrafficNewsItem
from onestop.catalogue.feeds.xmldoc import child_text, hong_kong_time, local_name, parse_xml
from onestop.catalogue.text import Lang, to_simplified


def parse_special_traffic_news(data: bytes, lang: Lang, *, source: str = "specialtrafficnews") -> TrafficNews:
    """``TrafficNews`` in ``lang`` from the TD XML; raises ``FeedFormatError``."""
    lang = Lang(lang)
    root = parse_xml(data, source)
    if local_name(root) != "body":
        raise FeedFormatError(source, f"the root element is <{local_name(root)}>, expected <body>", where="$")
    short_tag, text_tag = ("EngShort", "EngText") if lang is Lang.EN else ("ChinShort", "ChinText")
    items = []
    for position, message in enumerate(m for m in root if local_name(m) == "message"):
        where = f"message[{position}]"
        message_id = child_text(message, "msgID")
        if not message_id:
            raise FeedFormatError(source, "missing msgID", where=where)
        status_text = child_text(message, "CurrentStatus") or "0"
        if not status_text.isdigit():
            raise FeedFormatError(source, f"CurrentStatus should be a number, found {status_text!r}",
                                  where=f"{where}.CurrentStatus")
        text = child_text(message, text_tag) or ""
        headline = child_text(message, short_tag) or text.split("\n", 1)[0]
        if not text and not headline:
            raise FeedFormatError(source, f"neither {short_tag} nor {text_tag} has text", where=where)
        if lang is Lang.SC:
            text, headline = to_simplified(text), to_simplified(headline)
        items.append(TrafficNewsItem(
            id=message_id,
            status=int(status_text),
            headline=headline,
            text=text or headline,
            reported_at=hong_kong_time(child_text(message, "ReferenceDate") or ""),
            incident_ref=child_text(message, "IncidentRefNo") or None,
        ))
    return TrafficNews(language=lang, items=tuple(items))
