"""Feed adapters against real and realistic publisher data, their quirks, and malformed input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from onestop.catalogue.feeds import (
    FeedFormatError,
    FeedKind,
    parse_food_safety_alerts,
    parse_press_releases,
    parse_rhrread,
    parse_special_traffic_news,
)
from onestop.catalogue.text import Lang

HKT = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def feeds_dir(definitions_dir: Path) -> Path:
    return definitions_dir / "feeds"


@pytest.fixture(scope="module")
def hko_en(feeds_dir: Path) -> bytes:
    return (feeds_dir / "hko-rhrread-en.json").read_bytes()


@pytest.fixture(scope="module")
def hko_tc(feeds_dir: Path) -> bytes:
    return (feeds_dir / "hko-rhrread-tc.json").read_bytes()


def _edited(data: bytes, **changes: Any) -> bytes:
    decoded = json.loads(data)
    decoded.update(changes)
    return json.dumps(decoded, ensure_ascii=False).encode()


# --- Hong Kong Observatory rhrread (real responses) --------------------------------------------------------


def test_english_report_reads_the_published_values(hko_en: bytes) -> None:
    report = parse_rhrread(hko_en, Lang.EN)

    assert report.kind is FeedKind.WEATHER
    assert report.updated_at == datetime(2020, 8, 6, 10, 2, tzinfo=HKT)
    assert report.icons == (54,)
    assert report.temperature_at("King's Park") == 30
    assert report.temperature_at("Hong Kong Observatory") == 29
    assert report.temperature_at("Wong Chuk Hang") == 31
    assert len(report.temperatures) == 26
    assert [(r.place, r.value, r.unit) for r in report.humidity] == [("Hong Kong Observatory", 86, "percent")]
    assert report.uv_index is not None
    assert (report.uv_index.place, report.uv_index.value, report.uv_index.description) == (
        "King's Park", 5, "moderate")
    assert report.warnings == ()
    assert report.tips == ("Hot weather might cause adverse health effects. The public should stay on the alert "
                           "and drink more water.",)
    assert report.rainfall_start == datetime(2020, 8, 6, 8, 45, tzinfo=HKT)


def test_english_report_decodes_html_entities_in_place_names(hko_en: bytes) -> None:
    report = parse_rhrread(hko_en, Lang.EN)

    assert report.rainfall[0].place == "Central & Western District"


def test_rainfall_rows_with_min_keep_it_and_others_have_none(hko_en: bytes) -> None:
    rainfall = {row.place: row for row in parse_rhrread(hko_en, Lang.EN).rainfall}

    assert (rainfall["Sai Kung"].max, rainfall["Sai Kung"].min) == (1, 0)
    assert rainfall["Sha Tin"].min is None
    assert not any(row.maintenance for row in rainfall.values())


def test_chinese_report_has_the_warning_list_and_no_uv_index(hko_tc: bytes) -> None:
    report = parse_rhrread(hko_tc, Lang.TC)

    assert report.language is Lang.TC
    assert report.updated_at == datetime(2020, 8, 29, 22, 2, tzinfo=HKT)
    assert report.warnings == ("酷熱天氣警告現正生效，市民應慎防中暑，多補充水分。",)
    assert report.uv_index is None
    assert report.temperature_at("赤鱲角") == 31
    assert report.temperature_at("荃灣可觀") == 26
    assert report.icons == (77,)


def test_empty_string_rainfall_main_means_not_under_maintenance(hko_tc: bytes) -> None:
    rainfall = {row.place: row for row in parse_rhrread(hko_tc, Lang.TC).rainfall}

    assert rainfall["深水埗"].maintenance is False
    assert rainfall["九龍城"].maintenance is False


def test_simplified_is_converted_from_the_traditional_report(hko_tc: bytes) -> None:
    report = parse_rhrread(hko_tc, Lang.SC)

    assert report.warnings == ("酷热天气警告现正生效，市民应慎防中暑，多补充水分。",)
    assert report.language is Lang.SC
    assert report.temperature_at("将军澳") == 28
    assert report.temperature_at("將軍澳") is None


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"warningMessage": ""}, lambda r: r.warnings == ()),
        ({"warningMessage": ["Amber Rainstorm Warning Signal is in force."]},
         lambda r: r.warnings == ("Amber Rainstorm Warning Signal is in force.",)),
        ({"uvindex": ""}, lambda r: r.uv_index is None),
        ({"tcmessage": ["Standby Signal No. 1 &amp; Strong Wind Signal"]},
         lambda r: r.tropical_cyclone == ("Standby Signal No. 1 & Strong Wind Signal",)),
        ({"rainfall": {"data": [{"unit": "mm", "place": "Tai Po", "max": 12, "main": "TRUE"}],
                       "startTime": "2020-08-06T08:45:00+08:00", "endTime": "2020-08-06T09:45:00+08:00"}},
         lambda r: r.rainfall[0].maintenance is True and r.rainfall[0].max == 12),
        ({"rainfall": ""}, lambda r: r.rainfall == ()),
        ({"specialWxTips": None}, lambda r: r.tips == ()),
    ],
    ids=["warning-empty-string", "warning-list", "uvindex-empty-string", "tcmessage-entity",
         "rainfall-maintenance", "rainfall-empty-string", "no-tips"],
)
def test_rhrread_quirks_are_absorbed(hko_en: bytes, changes: dict[str, Any], check: Any) -> None:
    assert check(parse_rhrread(_edited(hko_en, **changes), Lang.EN))


@pytest.mark.parametrize(
    ("data", "where", "fragment"),
    [
        (b'{"updateTime": "2020-08-06T10:02:00+08:00", "temperature": ', "", "not JSON"),
        (b"[1, 2]", "$", "expected an object, found a list"),
        (b'{"temperature": {"data": []}}', "updateTime", "missing"),
        (b'{"updateTime": "yesterday"}', "updateTime", "ISO 8601"),
        (b'{"updateTime": "2020-08-06T10:02:00+08:00", "temperature": {"data": [{"place": "Tai Po", '
         b'"value": "hot", "unit": "C"}]}}', "temperature.data[0].value", "expected a number, found a text"),
        (b'{"updateTime": "2020-08-06T10:02:00+08:00", "rainfall": {"data": [{"place": "Tai Po", "max": 0, '
         b'"main": "MAYBE"}]}}', "rainfall.data[0].main", "MAYBE"),
        (b"\xff\xfe{}", "", "not UTF-8"),
    ],
    ids=["truncated", "not-an-object", "no-update-time", "bad-time", "text-temperature", "bad-main", "not-utf8"],
)
def test_malformed_rhrread_raises_a_specific_error(data: bytes, where: str, fragment: str) -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse_rhrread(data, Lang.EN, source="weather.json")

    error = caught.value
    assert error.code == "FEED_FORMAT"
    assert error.where == where
    assert fragment in error.message
    assert error.problems[0].path == "weather.json"


def test_truncated_json_error_points_at_line_and_column() -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse_rhrread(b'{\n  "updateTime": "2020-08-06T10:02:00+08:00",\n  "icon": [54,\n', Lang.EN, source="w.json")

    problem = caught.value.problems[0]
    assert (problem.line, problem.col) == (4, 1)
    assert problem.format().startswith("w.json:4:1: error[FEED_FORMAT]: not JSON")


# --- Transport Department special traffic news -------------------------------------------------------------


def test_traffic_news_in_english_reads_each_message(feeds_dir: Path) -> None:
    news = parse_special_traffic_news((feeds_dir / "td-specialtrafficnews.xml").read_bytes(), Lang.EN)

    assert [item.id for item in news.items] == ["20261127184501", "20261127170312", "20261127093020"]
    first = news.items[0]
    assert first.headline.startswith("Traffic accident on Tolo Highway near Tai Po Kau")
    assert first.status == 2
    assert first.incident_ref == "A202611270027"
    assert first.reported_at == datetime(2026, 11, 27, 18, 45, 1, tzinfo=HKT)
    assert news.items[2].reported_at == datetime(2026, 11, 27, 9, 30, 20, tzinfo=HKT)
    assert "the MTR & other public transport" in news.items[1].text


@pytest.mark.parametrize(
    ("lang", "headline"),
    [(Lang.TC, "吐露港公路近大埔滘(往九龍方向)交通意外，慢線及中線封閉"),
     (Lang.SC, "吐露港公路近大埔滘(往九龙方向)交通意外，慢线及中线封闭")],
)
def test_traffic_news_in_chinese_reads_the_chinese_texts(feeds_dir: Path, lang: Lang, headline: str) -> None:
    news = parse_special_traffic_news((feeds_dir / "td-specialtrafficnews.xml").read_bytes(), lang)

    assert news.language is lang
    assert news.items[0].headline == headline


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"<body><message><msgID>1</msgID>", "not well-formed XML"),
        (b"<rss/>", "expected <body>"),
        (b"<body><message><CurrentStatus>2</CurrentStatus><EngText>x</EngText></message></body>", "missing msgID"),
        (b"<body><message><msgID>1</msgID><CurrentStatus>open</CurrentStatus><EngText>x</EngText></message></body>",
         "CurrentStatus should be a number"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE body [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n'
         b"<body><message><msgID>&b;</msgID></message></body>", "DTD or entity declaration"),
    ],
    ids=["truncated", "wrong-root", "no-id", "bad-status", "entity-expansion"],
)
def test_malformed_traffic_news_raises_a_specific_error(data: bytes, fragment: str) -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse_special_traffic_news(data, Lang.EN, source="td.xml")

    assert fragment in caught.value.message


# --- RSS: food safety alerts and press releases -----------------------------------------------------------


def test_food_safety_alerts_read_items_newest_first_as_plain_text(feeds_dir: Path) -> None:
    alerts = parse_food_safety_alerts((feeds_dir / "cfs-food-alerts-en.xml").read_bytes(), Lang.EN)

    assert alerts.kind is FeedKind.FOOD_SAFETY_ALERTS
    assert alerts.title == "Centre for Food Safety - Food Alerts"
    assert len(alerts.items) == 3
    first = alerts.items[0]
    assert first.title == "Food Alert - Prepackaged frozen dumplings may contain undeclared peanut"
    assert first.published_at == datetime(2026, 11, 27, 18, 30, tzinfo=HKT)
    assert "<p>" not in first.summary
    assert "Product name: Pork & Chive Dumplings" in first.summary.splitlines()
    published = [item.published_at for item in alerts.items]
    assert published == sorted(published, reverse=True)  # type: ignore[type-var]


def test_press_releases_in_traditional_and_simplified(feeds_dir: Path) -> None:
    data = (feeds_dir / "press-releases-tc.xml").read_bytes()

    traditional = parse_press_releases(data, Lang.TC)
    simplified = parse_press_releases(data, Lang.SC)

    assert traditional.kind is FeedKind.ANNOUNCEMENTS
    assert traditional.items[1].title == "長者醫療券計劃：預防性護理獎賞"
    assert simplified.items[1].title == "长者医疗券计划：预防性护理奖赏"
    assert traditional.items[1].link == "https://www.info.gov.hk/gia/general/202611/27/P2026112700511.htm"


def test_rss_items_without_a_date_sort_last_and_keep_their_link_as_id() -> None:
    data = (b'<rss version="2.0"><channel><title>t</title>'
            b"<item><title>undated</title><link>https://example.org/a</link></item>"
            b"<item><title>dated</title><pubDate>Fri, 27 Nov 2026 18:30:00 +0800</pubDate></item>"
            b"</channel></rss>")

    items = parse_press_releases(data, Lang.EN).items

    assert [item.title for item in items] == ["dated", "undated"]
    assert items[1].id == "https://example.org/a"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "expected <rss>"),
        (b"<rss version='2.0'/>", "no <channel>"),
        (b"<rss version='2.0'><channel><item><link>x</link></item></channel></rss>", "without a title"),
    ],
    ids=["atom", "no-channel", "untitled-item"],
)
def test_malformed_rss_raises_a_specific_error(data: bytes, fragment: str) -> None:
    with pytest.raises(FeedFormatError, match=fragment):
        parse_food_safety_alerts(data, Lang.EN)
