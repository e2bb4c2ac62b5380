"""The typed values the public information feeds are parsed into (frozen; one per feed and language)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from onestop.catalogue.problems import CatalogueError, Problem
from onestop.catalogue.text import Lang


class FeedKind(StrEnum):
    WEATHER = "weather"
    TRAFFIC_NEWS = "trafficNews"
    FOOD_SAFETY_ALERTS = "foodSafetyAlerts"
    ANNOUNCEMENTS = "announcements"
    SANDBOX_NEWS = "sandboxNews"


class FeedModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reading(FeedModel):
    """One station's reading (temperature in C, humidity in percent)."""

    place: str
    value: float
    unit: str


class RainfallReading(FeedModel):
    """Rainfall of one district over the report's hour; ``maintenance`` when its gauge is out of service."""

    place: str
    max: float
    min: float | None = None
    unit: str = "mm"
    maintenance: bool = False


class UVIndex(FeedModel):
    place: str
    value: float
    description: str
    message: str | None = None


class WeatherReport(FeedModel):
    """The Hong Kong Observatory's current weather report (``rhrread``)."""

    kind: Literal[FeedKind.WEATHER] = FeedKind.WEATHER
    language: Lang
    updated_at: datetime
    icons: tuple[int, ...] = ()
    temperatures: tuple[Reading, ...] = ()
    temperature_recorded_at: datetime | None = None
    humidity: tuple[Reading, ...] = ()
    humidity_recorded_at: datetime | None = None
    rainfall: tuple[RainfallReading, ...] = ()
    rainfall_start: datetime | None = None
    rainfall_end: datetime | None = None
    uv_index: UVIndex | None = None
    warnings: tuple[str, ...] = ()
    tips: tuple[str, ...] = ()
    tropical_cyclone: tuple[str, ...] = ()

    def temperature_at(self, place: str) -> float | None:
        """The temperature at a station by its name as published, or None."""
        return next((reading.value for reading in self.temperatures if reading.place == place), None)


class TrafficNewsItem(FeedModel):
    """One Transport Department special traffic news message."""

    id: str
    status: int
    headline: str
    text: str
    reported_at: datetime | None = None
    incident_ref: str | None = None


class TrafficNews(FeedModel):
    kind: Literal[FeedKind.TRAFFIC_NEWS] = FeedKind.TRAFFIC_NEWS
    language: Lang
    items: tuple[TrafficNewsItem, ...] = ()


class FeedItem(FeedModel):
    """One entry of a publisher's RSS feed."""

    id: str
    title: str
    summary: str = ""
    link: str | None = None
    published_at: datetime | None = None


class FoodSafetyAlerts(FeedModel):
    """Centre for Food Safety food alerts, newest first."""

    kind: Literal[FeedKind.FOOD_SAFETY_ALERTS] = FeedKind.FOOD_SAFETY_ALERTS
    language: Lang
    title: str
    items: tuple[FeedItem, ...] = ()


class Announcements(FeedModel):
    """Government press releases, newest first."""

    kind: Literal[FeedKind.ANNOUNCEMENTS] = FeedKind.ANNOUNCEMENTS
    language: Lang
    title: str
    items: tuple[FeedItem, ...] = ()


class SandboxNews(FeedModel):
    """News of the service providers' sandbox programme, newest first."""

    kind: Literal[FeedKind.SANDBOX_NEWS] = FeedKind.SANDBOX_NEWS
    language: Lang
    title: str
    items: tuple[FeedItem, ...] = ()


FeedValue = WeatherReport | TrafficNews | FoodSafetyAlerts | Announcements | SandboxNews


class FeedFormatError(CatalogueError):
    """Feed data that its adapter cannot read; the one problem says where (line/col when known) and what."""

    code = "FEED_FORMAT"

    def __init__(self, source: str, message: str, *, where: str = "", line: int = 1, col: int = 1) -> None:
        self.source = source
        self.where = where
        self.message = message
        located = f"{where}: {message}" if where else message
        super().__init__([Problem(source, line, col, self.code, located,
                                  "the publisher changed its format or the file is damaged; "
                                  "the last good value keeps being served")])
