"""``publicInfo``: readable without login, in the request's language (falling back to English)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry

from onestop.catalogue.feeds import (
    Announcements,
    FeedKind,
    FoodSafetyAlerts,
    SandboxNews,
    TrafficNews,
    WeatherReport,
)
from onestop.catalogue.text import Lang
from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.public.types import NewsFeed, TrafficNewsFeed, Weather

V = TypeVar("V")
R = TypeVar("R")


def _latest(info: Info_, kind: FeedKind, expected: type[V]) -> tuple[V, Any] | None:
    """The feed's value in the request's language (else English) and its state; None when never read."""
    feeds = info.context.engine.feeds
    for lang in dict.fromkeys((info.context.lang, Lang.EN)):
        state = feeds.state(kind, lang)
        if state is not None and isinstance(state.value, expected):
            return state.value, state
    return None


def _feed(info: Info_, kind: FeedKind, expected: type[V], render: Callable[..., R]) -> R | None:
    """The feed rendered as its GraphQL type, with its freshness; None when never read."""
    found = _latest(info, kind, expected)
    if found is None:
        return None
    value, state = found
    return render(value, stale=state.stale, fetched_at=state.fetched_at)


@strawberry.type(description="Public information feeds; each is null when it has never been read successfully.")
class PublicInfo:
    @field()
    def weather(self, info: Info_) -> Weather | None:
        return _feed(info, FeedKind.WEATHER, WeatherReport, Weather.of)

    @field()
    def traffic_news(self, info: Info_) -> TrafficNewsFeed | None:
        return _feed(info, FeedKind.TRAFFIC_NEWS, TrafficNews, TrafficNewsFeed.of)

    @field()
    def food_safety_alerts(self, info: Info_) -> NewsFeed | None:
        return _feed(info, FeedKind.FOOD_SAFETY_ALERTS, FoodSafetyAlerts, NewsFeed.of)

    @field(description="Government press releases and announcements.")
    def announcements(self, info: Info_) -> NewsFeed | None:
        return _feed(info, FeedKind.ANNOUNCEMENTS, Announcements, NewsFeed.of)

    @field(description="News of the service providers' sandbox programme (the portal's news page and Atom feed).")
    def sandbox_news(self, info: Info_) -> NewsFeed | None:
        return _feed(info, FeedKind.SANDBOX_NEWS, SandboxNews, NewsFeed.of)


@strawberry.type
class PublicQuery:
    @field(description="Weather, traffic news, food-safety alerts and announcements; no login needed.")
    def public_info(self) -> PublicInfo:
        return PublicInfo()
