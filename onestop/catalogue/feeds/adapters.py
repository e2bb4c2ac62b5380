"""The format adapters ``feeds.yaml`` may name, each turning a publisher's bytes into one kind of value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from onestop.catalogue.feeds.atom import parse_sandbox_news
from onestop.catalogue.feeds.hko import parse_rhrread
from onestop.catalogue.feeds.models import FeedKind, FeedValue
from onestop.catalogue.feeds.rss import parse_food_safety_alerts, parse_press_releases
from onestop.catalogue.feeds.traffic import parse_special_traffic_news
from onestop.catalogue.text import Lang

Parse = Callable[..., FeedValue]


@dataclass(frozen=True)
class Adapter:
    """One format: its name in ``feeds.yaml``, the kind of value it yields, and its parser."""

    name: str
    kind: FeedKind
    parse_bytes: Parse
    publisher: str

    def parse(self, data: bytes, lang: Lang, *, source: str) -> FeedValue:
        """The value in ``lang``; raises ``FeedFormatError`` naming ``source``."""
        value: FeedValue = self.parse_bytes(data, Lang(lang), source=source)
        return value


ADAPTERS: Mapping[str, Adapter] = MappingProxyType({
    adapter.name: adapter for adapter in (
        Adapter("hko-rhrread", FeedKind.WEATHER, parse_rhrread,
                "Hong Kong Observatory, current weather report (JSON)"),
        Adapter("td-special-traffic-news", FeedKind.TRAFFIC_NEWS, parse_special_traffic_news,
                "Transport Department, special traffic news (bilingual XML)"),
        Adapter("cfs-food-alerts-rss", FeedKind.FOOD_SAFETY_ALERTS, parse_food_safety_alerts,
                "Centre for Food Safety, food alerts (RSS 2.0)"),
        Adapter("isd-press-releases-rss", FeedKind.ANNOUNCEMENTS, parse_press_releases,
                "Information Services Department, government press releases (RSS 2.0)"),
        Adapter("sandbox-news-atom", FeedKind.SANDBOX_NEWS, parse_sandbox_news,
                "The platform team, news of the service providers' sandbox programme (Atom 1.0)"),
    )
})
