"""The sandbox programme's news: an Atom feed in definitions/feeds, read by the same feed machinery as the
public announcements (``format: sandbox-news-atom``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.catalogue.feeds import ADAPTERS, FeedFormatError, FeedKind, SandboxNews, load_feeds
from onestop.catalogue.feeds.atom import parse_sandbox_news
from onestop.catalogue.text import Lang

FEED = '<feed xmlns="http://www.w3.org/2005/Atom"><title>News</title>{entries}</feed>'
ENTRY = "<entry><id>urn:x:{n}</id><title>Item {n}</title><updated>{stamp}</updated><summary>S</summary></entry>"


def test_the_seed_feed_is_read_newest_first_in_each_language(definitions_dir: Path) -> None:
    english = parse_sandbox_news((definitions_dir / "feeds" / "sandbox-news-en.atom").read_bytes(), Lang.EN)
    chinese = (definitions_dir / "feeds" / "sandbox-news-tc.atom").read_bytes()
    assert english.items[0].title == "Preview your services in three languages"
    assert english.items[0].link == "/sandbox/guide"
    stamps = [item.published_at for item in english.items]
    assert stamps == sorted(stamps, reverse=True)
    assert parse_sandbox_news(chinese, Lang.TC).items[0].title == "以三種語言預覽你的服務"
    assert parse_sandbox_news(chinese, Lang.SC).items[0].title == "以三种语言预览你的服务"


def test_feeds_yaml_declares_it_as_the_sandbox_news(definitions_dir: Path) -> None:
    config = load_feeds(definitions_dir)
    feed = config.feed(FeedKind.SANDBOX_NEWS)
    assert feed is not None
    assert ADAPTERS[feed.format].kind is FeedKind.SANDBOX_NEWS


def test_entries_are_sorted_by_date_whatever_the_file_order() -> None:
    data = FEED.format(entries=ENTRY.format(n=1, stamp="2026-01-01T00:00:00Z")
                       + ENTRY.format(n=2, stamp="2026-02-01T00:00:00+08:00")).encode()
    news = parse_sandbox_news(data, Lang.EN)
    assert isinstance(news, SandboxNews)
    assert [item.id for item in news.items] == ["urn:x:2", "urn:x:1"]


@pytest.mark.parametrize(("data", "says"), [
    (FEED.format(entries=ENTRY.format(n=1, stamp="")), "needs an <updated>"),
    (FEED.format(entries=ENTRY.format(n=1, stamp="2026-01-01T00:00:00")), "with an offset"),
    (FEED.format(entries="<entry><title>No id</title></entry>"), "needs an <id>"),
    ('<rss version="2.0"><channel/></rss>', "expected an Atom <feed>"),
    ('<!DOCTYPE feed [<!ENTITY x "y">]><feed xmlns="http://www.w3.org/2005/Atom"/>', "DTD"),
])
def test_a_broken_feed_is_refused_with_where_and_what(data: str, says: str) -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse_sandbox_news(data.encode(), Lang.EN, source="news.atom")
    assert says in caught.value.problems[0].message
