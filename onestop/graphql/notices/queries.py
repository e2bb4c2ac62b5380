"""The citizen's notice preferences."""

from __future__ import annotations

import strawberry

from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.notices.types import NoticePreferencesType


@strawberry.type
class NoticeQuery:
    @field(description="How the signed-in citizen wants notices (language and channels).")
    async def notice_preferences(self, info: Info_) -> NoticePreferencesType:
        principal = await info.context.require_citizen()
        return NoticePreferencesType.of(await info.context.engine.notices.preferences(principal.sub))
