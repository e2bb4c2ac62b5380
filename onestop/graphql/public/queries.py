"""``publicInfo``: readable without login, in the request's language (falling back to English)."""

from __future__ import annotations

from typing import Any, TypeVar

import strawberry

from onestop.catalogue.feeds import Announcements, FeedKind, FoodSafetyAlerts, TrafficNews, WeatherReport
from onestop.catalogue.text import Lang
from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.public.types import NewsFeed, TrafficNewsFeed, Weather

V = TypeVar("V")


def _latest(info: Info_, kind: FeedKind, expected: type[V]) -> tuple[V, Any] | None:
    """The feed's value in the request's language (else English) and its state; None when never read."""
    feeds = info.context.engine.feeds
    if feeds is None:
        return None
    for lang in dict.fromkeys((info.context.lang, Lang.EN)):
        state = feeds.state(kind, lang)
        if state is not None and isinstance(state.value, expected):
            return state.value, state
    return None


@strawberry.type(description="Public information feeds; each is null when it has never been read successfully.")
class PublicInfo:
    @field()
    def weather(self, info: Info_) -> Weather | None:
        found = _latest(info, FeedKind.WEATHER, WeatherReport)
        if found is None:
            return None
        value, state = found
        return Weather.of(value, stale=state.stale, fetched_at=state.fetched_at)

    @field()
    def traffic_news(self, info: Info_) -> TrafficNewsFeed | None:
        found = _latest(info, FeedKind.TRAFFIC_NEWS, TrafficNews)
        if found is None:
            return None
        value, state = found
        return TrafficNewsFeed.of(value, stale=state.stale, fetched_at=state.fetched_at)

    @field()
    def food_safety_alerts(self, info: Info_) -> NewsFeed | None:
        found = _latest(info, FeedKind.FOOD_SAFETY_ALERTS, FoodSafetyAlerts)
        if found is None:
            return None
        value, state = found
        return NewsFeed.of(value, stale=state.stale, fetched_at=state.fetched_at)

    @field(description="Government press releases and announcements.")
    def announcements(self, info: Info_) -> NewsFeed | None:
        found = _latest(info, FeedKind.ANNOUNCEMENTS, Announcements)
        if found is None:
            return None
        value, state = found
        return NewsFeed.of(value, stale=state.stale, fetched_at=state.fetched_at)


@strawberry.type
class PublicQuery:
    @field(description="Weather, traffic news, food-safety alerts and announcements; no login needed.")
    def public_info(self) -> PublicInfo:
        return PublicInfo()
