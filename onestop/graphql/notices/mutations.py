"""Set the citizen's notice preferences."""

from __future__ import annotations

import strawberry

from onestop.catalogue.text import Lang
from onestop.engine import ChannelChoice
from onestop.graphql.context import Info_
from onestop.graphql.errors import UserError, outcome
from onestop.graphql.fields import field
from onestop.graphql.notices.types import NoticePreferencesType


@strawberry.input(description="Null (or omitted) returns a choice to its default.")
class SetNoticePreferencesInput:
    language: Lang | None = None
    channels: ChannelChoice | None = None


@strawberry.type
class SetNoticePreferencesPayload:
    preferences: NoticePreferencesType | None
    user_errors: list[UserError]


@strawberry.type
class NoticeMutation:
    @field(description="Choose the language and the channels of your notices.")
    async def set_notice_preferences(self, info: Info_, input: SetNoticePreferencesInput
                                     ) -> SetNoticePreferencesPayload:
        principal = await info.context.require_citizen()
        notices = info.context.engine.notices
        done = await outcome(lambda: notices.set_preferences(
            principal.sub, language=input.language.value if input.language else None,
            channels=input.channels.value if input.channels else None), info.context.lang)
        return SetNoticePreferencesPayload(preferences=done.map(NoticePreferencesType.of),
                                           user_errors=done.user_errors)
