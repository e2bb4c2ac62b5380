"""feeds.yaml: the real file loads; each kind of mistake gets its own error at the right line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from onestop.catalogue import CatalogueError
from onestop.catalogue.feeds import FeedKind, load_feeds, parse_rhrread
from onestop.catalogue.text import Lang


def test_the_shipped_feeds_yaml_loads_every_kind(definitions_dir: Path) -> None:
    config = load_feeds(definitions_dir)

    assert {feed.kind for feed in config.feeds} == set(FeedKind)
    weather = config.feed(FeedKind.WEATHER)
    assert weather is not None
    assert weather.source_for(Lang.EN).file == "feeds/hko-rhrread-en.json"
    assert weather.source_for(Lang.TC).file == "feeds/hko-rhrread-tc.json"
    assert weather.source_for("sc").file == "feeds/hko-rhrread-tc.json"  # sc reads tc, converted
    traffic = config.feed("trafficNews")
    assert traffic is not None
    assert {traffic.source_for(lang).file for lang in Lang} == {"feeds/td-specialtrafficnews.xml"}


def test_a_tree_without_feeds_yaml_has_no_feeds(tmp_path: Path) -> None:
    assert load_feeds(tmp_path).feeds == ()


def test_a_language_given_as_text_is_accepted(definitions_dir: Path) -> None:
    data = (definitions_dir / "feeds" / "hko-rhrread-tc.json").read_bytes()

    assert parse_rhrread(data, "sc") == parse_rhrread(data, Lang.SC)  # type: ignore[arg-type]


@pytest.fixture
def tree(tmp_path: Path, definitions_dir: Path) -> Path:
    shutil.copytree(definitions_dir / "feeds", tmp_path / "feeds")
    return tmp_path


GOOD = """\
feeds:
  - id: weather
    kind: weather
    format: hko-rhrread
    source: {file: feeds/hko-rhrread-en.json}
"""


@pytest.mark.parametrize(
    ("text", "code", "line", "fragment"),
    [
        (GOOD.replace("format: hko-rhrread", "format: hko-json"), "INVALID_VALUE", 4,
         "unknown format 'hko-json'; known formats: hko-rhrread, td-special-traffic-news"),
        (GOOD.replace("kind: weather", "kind: trafficNews"), "INVALID_VALUE", 4,
         "format 'hko-rhrread' reads weather feeds, not trafficNews; use one of: td-special-traffic-news"),
        (GOOD.replace("kind: weather", "kind: horoscope"), "INVALID_VALUE", 3, "weather"),
        (GOOD.replace("hko-rhrread-en.json", "hko-missing.json"), "MISSING_FILE", 5,
         "feed data file 'feeds/hko-missing.json' does not exist"),
        (GOOD.replace("hko-rhrread-en.json", "cfs-food-alerts-en.xml"), "FEED_FORMAT", 5,
         "is not valid hko-rhrread data"),
        (GOOD.replace("{file: feeds/hko-rhrread-en.json}",
                      "{file: feeds/hko-rhrread-en.json, url: 'https://data.weather.gov.hk/x'}"),
         "INVALID_VALUE", 5, "exactly one of 'file'"),
        (GOOD.replace("{file: feeds/hko-rhrread-en.json}", "{url: 'ftp://example.org/x'}"),
         "INVALID_VALUE", 5, "is not an http(s) URL"),
        (GOOD.replace("{file: feeds/hko-rhrread-en.json}", "{file: ../secrets.json}"),
         "INVALID_VALUE", 5, "must be a relative path inside definitions/"),
        (GOOD.replace("{file: feeds/hko-rhrread-en.json}", "{url: 'https://example.org/w', refresh: PT1S}"),
         "INVALID_VALUE", 5, "too short"),
        (GOOD.replace("{file: feeds/hko-rhrread-en.json}", "{url: 'https://example.org/w', refresh: soon}"),
         "BAD_DURATION", 5, "ISO-8601"),
        (GOOD + "    colour: blue\n", "UNKNOWN_KEY", 6, "colour"),
        (GOOD + GOOD.removeprefix("feeds:\n").replace("id: weather", "id: weather-again"),
         "DUPLICATE_FEED", 7, "another feed (number 1) already has kind 'weather'"),
    ],
    ids=["unknown-format", "format-kind-mismatch", "unknown-kind", "missing-file", "data-not-in-format",
         "file-and-url", "not-http", "path-escapes", "refresh-too-short", "bad-duration", "unknown-key",
         "duplicate-kind"],
)
def test_feeds_yaml_mistakes_are_reported_precisely(tree: Path, text: str, code: str, line: int,
                                                    fragment: str) -> None:
    (tree / "feeds.yaml").write_text(text, encoding="utf-8")

    with pytest.raises(CatalogueError) as caught:
        load_feeds(tree)

    problems = caught.value.problems
    assert [p.code for p in problems] == [code], [p.format() for p in problems]
    assert problems[0].line == line, problems[0].format()
    assert fragment in problems[0].message
    assert problems[0].path.endswith("feeds.yaml")


def test_a_duplicate_feed_id_is_reported_at_the_second_id(tree: Path) -> None:
    second = """\
  - id: weather
    kind: trafficNews
    format: td-special-traffic-news
    source: {file: feeds/td-specialtrafficnews.xml}
"""
    (tree / "feeds.yaml").write_text(GOOD + second, encoding="utf-8")

    with pytest.raises(CatalogueError) as caught:
        load_feeds(tree)

    assert [(p.code, p.line, p.col) for p in caught.value.problems] == [("DUPLICATE_FEED", 6, 9)]


def test_every_problem_is_reported_not_just_the_first(tree: Path) -> None:
    text = GOOD + """\
  - id: traffic
    kind: trafficNews
    format: td-special-traffic-news
    source: {file: feeds/nowhere.xml}
"""
    (tree / "feeds.yaml").write_text(text.replace("hko-rhrread-en.json", "gone.json"), encoding="utf-8")

    with pytest.raises(CatalogueError) as caught:
        load_feeds(tree)

    assert [(p.code, p.line) for p in caught.value.problems] == [("MISSING_FILE", 5), ("MISSING_FILE", 9)]


def test_onestop_validate_reports_feeds_yaml_problems(tmp_path: Path, definitions_dir: Path) -> None:
    import io

    from onestop.catalogue.validate import validate_command

    tree = tmp_path / "definitions"
    shutil.copytree(definitions_dir, tree)
    feeds = tree / "feeds.yaml"
    feeds.write_text(feeds.read_text(encoding="utf-8").replace("format: td-special-traffic-news",
                                                               "format: td-traffic"), encoding="utf-8")
    out = io.StringIO()

    assert validate_command([tree], out=out) == 1
    first = out.getvalue().splitlines()[0]
    assert first.startswith(f"{feeds}:")
    assert "error[INVALID_VALUE]: 'format': unknown format 'td-traffic'" in first
