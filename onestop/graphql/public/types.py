"""Public information anyone may read: weather, traffic news, food-safety alerts, government announcements.

Each feed says whether it is ``stale`` (the latest refresh failed, so an older value is shown) and when the
value was read, so a frontend can label old news honestly.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop.catalogue.feeds import Announcements, FoodSafetyAlerts, SandboxNews, TrafficNews, WeatherReport
from onestop.catalogue.feeds.models import FeedItem, RainfallReading, Reading, TrafficNewsItem, UVIndex


@strawberry.type(description="A measurement at one place.")
class PlaceReading:
    place: str
    value: float
    unit: str

    @classmethod
    def of(cls, reading: Reading) -> PlaceReading:
        return cls(place=reading.place, value=reading.value, unit=reading.unit)


@strawberry.type(description="Rainfall over the last hour at one district.")
class Rainfall:
    place: str
    max: float
    min: float | None
    unit: str
    maintenance: bool = strawberry.field(description="True when the gauge is under maintenance (no reading).")

    @classmethod
    def of(cls, reading: RainfallReading) -> Rainfall:
        return cls(place=reading.place, max=reading.max, min=reading.min, unit=reading.unit,
                   maintenance=reading.maintenance)


@strawberry.type
class UvIndex:
    place: str
    value: float
    description: str
    message: str | None

    @classmethod
    def of(cls, uv: UVIndex | None) -> UvIndex | None:
        if uv is None:
            return None
        return cls(place=uv.place, value=uv.value, description=uv.description, message=uv.message)


@strawberry.type(description="The Hong Kong Observatory's current weather report.")
class Weather:
    update_time: datetime = strawberry.field(description="When the Observatory issued the report.")
    temperatures: list[PlaceReading]
    humidity: list[PlaceReading]
    rainfall: list[Rainfall]
    uv_index: UvIndex | None
    warnings: list[str] = strawberry.field(description="Warning messages in force, in the request's language.")
    tips: list[str]
    tropical_cyclone: list[str]
    icons: list[int] = strawberry.field(description="HKO weather icon numbers.")
    stale: bool
    fetched_at: datetime | None

    @classmethod
    def of(cls, report: WeatherReport, *, stale: bool, fetched_at: datetime | None) -> Weather:
        return cls(
            update_time=report.updated_at,
            temperatures=[PlaceReading.of(r) for r in report.temperatures],
            humidity=[PlaceReading.of(r) for r in report.humidity],
            rainfall=[Rainfall.of(r) for r in report.rainfall],
            uv_index=UvIndex.of(report.uv_index),
            warnings=list(report.warnings), tips=list(report.tips),
            tropical_cyclone=list(report.tropical_cyclone), icons=list(report.icons),
            stale=stale, fetched_at=fetched_at,
        )


@strawberry.type
class TrafficNewsEntry:
    id: str
    status: int
    headline: str
    text: str
    reported_at: datetime | None
    incident_ref: str | None

    @classmethod
    def of(cls, item: TrafficNewsItem) -> TrafficNewsEntry:
        return cls(id=item.id, status=item.status, headline=item.headline, text=item.text,
                   reported_at=item.reported_at, incident_ref=item.incident_ref)


@strawberry.type(description="The Transport Department's special traffic news.")
class TrafficNewsFeed:
    items: list[TrafficNewsEntry]
    stale: bool
    fetched_at: datetime | None

    @classmethod
    def of(cls, news: TrafficNews, *, stale: bool, fetched_at: datetime | None) -> TrafficNewsFeed:
        return cls(items=[TrafficNewsEntry.of(item) for item in news.items], stale=stale, fetched_at=fetched_at)


@strawberry.type
class NewsItem:
    id: str
    title: str
    summary: str
    link: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, item: FeedItem) -> NewsItem:
        return cls(id=item.id, title=item.title, summary=item.summary, link=item.link,
                   published_at=item.published_at)


@strawberry.type(description="A list of dated items from a publisher (food-safety alerts, press releases).")
class NewsFeed:
    title: str
    items: list[NewsItem]
    stale: bool
    fetched_at: datetime | None

    @classmethod
    def of(cls, feed: FoodSafetyAlerts | Announcements | SandboxNews, *, stale: bool,
           fetched_at: datetime | None) -> NewsFeed:
        return cls(title=feed.title, items=[NewsItem.of(item) for item in feed.items], stale=stale,
                   fetched_at=fetched_at)
