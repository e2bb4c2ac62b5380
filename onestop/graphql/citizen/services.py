"""The engine's data services, as the citizen domain reaches them."""

from __future__ import annotations

from onestop.engine import DataServices
from onestop.graphql.context import Info_


def citizen_services(info: Info_) -> DataServices:
    return info.context.engine.data
