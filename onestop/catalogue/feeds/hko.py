"""The Hong Kong Observatory's current weather report (``weather.php?dataType=rhrread``).

The published JSON has quirks this adapter absorbs: ``warningMessage``, ``tcmessage`` and ``uvindex`` are an
empty string when there is nothing to say; place names carry HTML entities (``Central &amp; Western``);
rainfall ``main`` (gauge under maintenance) is the string "TRUE"/"FALSE" or ""; some rainfall rows add ``min``.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from onestop.catalogue.feeds.models import (
    FeedFormatError,
    RainfallReading,
    Reading,
    UVIndex,
    WeatherReport,
)
from onestop.catalogue.text import Lang, to_simplified


class _Reader:
    """Typed access to the decoded JSON; every failure names the JSON path."""

    def __init__(self, source: str, lang: Lang) -> None:
        self.source = source
        # HKO publishes sc too; when we are handed tc data for sc, the texts are converted here.
        self.convert = to_simplified if lang is Lang.SC else str

    def fail(self, where: str, message: str) -> FeedFormatError:
        return FeedFormatError(self.source, message, where=where)

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, found {_kind(value)}")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, found {_kind(value)}")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a number, found {_kind(value)}")
        return float(value)

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a text, found {_kind(value)}")
        return self.convert(html.unescape(value).strip())

    def time(self, value: Any, where: str) -> datetime:
        text = self.text(value, where)
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            example = "2020-08-06T10:02:00+08:00"
            raise self.fail(where, f"expected an ISO 8601 time like {example}, found {text!r}") from None
        if stamp.tzinfo is None:
            raise self.fail(where, f"the time {text!r} has no UTC offset")
        return stamp

    def optional_time(self, data: dict[str, Any], key: str, where: str) -> datetime | None:
        value = data.get(key)
        return None if value in (None, "") else self.time(value, f"{where}.{key}")

    def messages(self, value: Any, where: str) -> tuple[str, ...]:
        # "" (nothing to report) or a list of strings; a lone string is one message.
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            return (self.text(value, where),)
        return tuple(self.text(item, f"{where}[{i}]") for i, item in enumerate(self.items(value, where)))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _readings(reader: _Reader, block: Any, where: str) -> tuple[tuple[Reading, ...], datetime | None]:
    if block is None or block == "":
        return (), None
    data = reader.mapping(block, where)
    rows = reader.items(data.get("data", []), f"{where}.data")
    readings = []
    for i, row in enumerate(rows):
        at = f"{where}.data[{i}]"
        row = reader.mapping(row, at)
        readings.append(Reading(place=reader.text(row.get("place"), f"{at}.place"),
                                value=reader.number(row.get("value"), f"{at}.value"),
                                unit=reader.text(row.get("unit", ""), f"{at}.unit")))
    return tuple(readings), reader.optional_time(data, "recordTime", where)


def _rainfall(reader: _Reader, block: Any) -> tuple[tuple[RainfallReading, ...], datetime | None, datetime | None]:
    if block is None or block == "":
        return (), None, None
    data = reader.mapping(block, "rainfall")
    rows = []
    for i, row in enumerate(reader.items(data.get("data", []), "rainfall.data")):
        at = f"rainfall.data[{i}]"
        row = reader.mapping(row, at)
        main = row.get("main", "")
        if main not in ("TRUE", "FALSE", "", True, False):
            raise reader.fail(f"{at}.main", f"expected \"TRUE\", \"FALSE\" or \"\", found {main!r}")
        rows.append(RainfallReading(
            place=reader.text(row.get("place"), f"{at}.place"),
            max=reader.number(row.get("max", 0), f"{at}.max"),
            min=reader.number(row["min"], f"{at}.min") if "min" in row else None,
            unit=reader.text(row.get("unit", "mm"), f"{at}.unit"),
            maintenance=main in ("TRUE", True),
        ))
    return (tuple(rows), reader.optional_time(data, "startTime", "rainfall"),
            reader.optional_time(data, "endTime", "rainfall"))


def _uv_index(reader: _Reader, block: Any) -> UVIndex | None:
    if block is None or block == "":
        return None
    data = reader.mapping(block, "uvindex")
    rows = reader.items(data.get("data", []), "uvindex.data")
    if not rows:
        return None
    row = reader.mapping(rows[0], "uvindex.data[0]")
    record = data.get("recordDesc")
    return UVIndex(place=reader.text(row.get("place"), "uvindex.data[0].place"),
                   value=reader.number(row.get("value"), "uvindex.data[0].value"),
                   description=reader.text(row.get("desc", ""), "uvindex.data[0].desc"),
                   message=reader.text(record, "uvindex.recordDesc") if record else None)


def parse_rhrread(data: bytes, lang: Lang, *, source: str = "rhrread") -> WeatherReport:
    """A ``WeatherReport`` from the bytes of one rhrread response; raises ``FeedFormatError``."""
    lang = Lang(lang)
    reader = _Reader(source, lang)
    try:
        decoded = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FeedFormatError(source, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise FeedFormatError(source, f"not JSON: {exc.msg}", line=exc.lineno, col=exc.colno) from exc
    root = reader.mapping(decoded, "$")
    if "updateTime" not in root:
        raise reader.fail("updateTime", "missing: this is not an rhrread current weather report")
    temperatures, temperature_at = _readings(reader, root.get("temperature"), "temperature")
    humidity, humidity_at = _readings(reader, root.get("humidity"), "humidity")
    rainfall, rain_start, rain_end = _rainfall(reader, root.get("rainfall"))
    icons = root.get("icon") or []
    return WeatherReport(
        language=lang,
        updated_at=reader.time(root["updateTime"], "updateTime"),
        icons=tuple(int(reader.number(icon, f"icon[{i}]")) for i, icon in enumerate(reader.items(icons, "icon"))),
        temperatures=temperatures,
        temperature_recorded_at=temperature_at,
        humidity=humidity,
        humidity_recorded_at=humidity_at,
        rainfall=rainfall,
        rainfall_start=rain_start,
        rainfall_end=rain_end,
        uv_index=_uv_index(reader, root.get("uvindex")),
        warnings=reader.messages(root.get("warningMessage"), "warningMessage"),
        tips=reader.messages(root.get("specialWxTips"), "specialWxTips"),
        tropical_cyclone=reader.messages(root.get("tcmessage"), "tcmessage"),
    )
