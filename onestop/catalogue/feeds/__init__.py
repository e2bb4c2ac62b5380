"""Public information feeds: typed values, format adapters (bytes in, frozen models out) and ``feeds.yaml``.

Pure: no I/O besides reading ``feeds.yaml`` and its local files at load. Fetching and refreshing live in
``onestop.engine.feeds``.
"""

from onestop.catalogue.feeds.adapters import ADAPTERS, Adapter
from onestop.catalogue.feeds.config import FeedDefinition, FeedsConfig, FeedSource, load_feeds
from onestop.catalogue.feeds.hko import parse_rhrread
from onestop.catalogue.feeds.models import (
    Announcements,
    FeedFormatError,
    FeedItem,
    FeedKind,
    FeedValue,
    FoodSafetyAlerts,
    RainfallReading,
    Reading,
    SandboxNews,
    TrafficNews,
    TrafficNewsItem,
    UVIndex,
    WeatherReport,
)
from onestop.catalogue.feeds.rss import parse_food_safety_alerts, parse_press_releases, parse_rss
from onestop.catalogue.feeds.traffic import parse_special_traffic_news

__all__ = [
    "ADAPTERS",
    "Adapter",
    "Announcements",
    "FeedDefinition",
    "FeedFormatError",
    "FeedItem",
    "FeedKind",
    "FeedSource",
    "FeedValue",
    "FeedsConfig",
    "FoodSafetyAlerts",
    "RainfallReading",
    "Reading",
    "SandboxNews",
    "TrafficNews",
    "TrafficNewsItem",
    "UVIndex",
    "WeatherReport",
    "load_feeds",
    "parse_food_safety_alerts",
    "parse_press_releases",
    "parse_rhrread",
    "parse_rss",
    "parse_special_traffic_news",
]
