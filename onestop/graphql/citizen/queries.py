"""The citizen's entry point: ``viewer``."""

from __future__ import annotations

import strawberry

from onestop.graphql.citizen.types import Viewer
from onestop.graphql.context import Info_
from onestop.graphql.fields import field


@strawberry.type
class CitizenQuery:
    @field(description="The logged-in citizen; an UNAUTHENTICATED error (and null) without a valid token.")
    async def viewer(self, info: Info_) -> Viewer | None:
        return Viewer(principal=await info.context.require_citizen())
