"""XML from publishers, parsed without entity tricks, and the small text helpers the XML adapters share."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from onestop.catalogue.feeds.models import FeedFormatError

HONG_KONG = timezone(timedelta(hours=8), "HKT")
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def parse_xml(data: bytes, source: str) -> ET.Element:
    """The root element; a DTD or entity declaration is refused (no expansion bombs, no external entities)."""
    match = _DTD.search(data)
    if match:
        line = data.count(b"\n", 0, match.start()) + 1
        raise FeedFormatError(source, "a DTD or entity declaration is not accepted in feed data", line=line)
    try:
        return ET.fromstring(data)  # noqa: S314 - DTDs refused above, so no entity can be declared
    except ET.ParseError as exc:
        line, col = exc.position
        raise FeedFormatError(source, f"not well-formed XML: {exc}", line=line, col=col + 1) from exc


def local_name(element: ET.Element) -> str:
    """The tag without its namespace: ``{http://data.one.gov.hk/td}message`` -> ``message``."""
    return element.tag.rsplit("}", 1)[-1]


def child_text(element: ET.Element, name: str) -> str | None:
    """Text of the first child called ``name`` (any namespace), entity-decoded and trimmed; None if absent."""
    for child in element:
        if local_name(child) == name:
            return html.unescape(child.text or "").strip()
    return None


def plain_text(markup: str) -> str:
    """HTML from a feed's description as plain text: tags dropped, entities decoded, blank runs collapsed."""
    for tag in ("<br>", "<br/>", "<br />", "</p>", "</li>"):
        markup = markup.replace(tag, "\n")
    text = _TAG.sub(" ", markup)
    lines = (_SPACE.sub(" ", line).strip() for line in html.unescape(text).splitlines())
    return "\n".join(line for line in lines if line)


def hong_kong_time(text: str) -> datetime | None:
    """A publisher's local time stamp in any of the shapes Hong Kong feeds use; None when unreadable.

    ``2026/11/27 下午 03:12:45`` (TD, Chinese AM/PM marker), ``2026/11/27 3:12:45 PM``, ``2026/11/27 15:12:45``
    and ISO 8601. Times without an offset are Hong Kong time.
    """
    text = text.strip()
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        stamp = None
    if stamp is None:
        afternoon = any(marker in text for marker in ("下午", "PM", "pm"))
        morning = any(marker in text for marker in ("上午", "AM", "am"))
        for marker in ("上午", "下午", "AM", "PM", "am", "pm"):
            text = text.replace(marker, " ")
        text = " ".join(text.split())
        for pattern in ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M"):
            try:
                stamp = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        if stamp is None:
            return None
        if afternoon and stamp.hour < 12:
            stamp += timedelta(hours=12)
        elif morning and stamp.hour == 12:
            stamp -= timedelta(hours=12)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=HONG_KONG)
