"""The engine services the citizen domain calls, or a clear error when they are not configured."""

from __future__ import annotations

from onestop.engine.gateway import DataServices
from onestop.graphql.context import Info_
from onestop.graphql.errors import ApiError, ErrorCode


def citizen_services(info: Info_) -> DataServices:
    data = info.context.engine.data
    if data is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE,
                       "Citizen data services are not configured on this server; try again later.")
    return data
