"""Notices as the citizen sees them: what was sent, when and how (never to which address), and their choices."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop.catalogue.notices import NoticeEvent
from onestop.catalogue.text import Lang
from onestop.engine import ChannelChoice, NoticePreferences, SentNotice

NoticeLanguage = strawberry.enum(Lang, name="NoticeLanguage", description="A language notices are written in.")
NoticeEventEnum = strawberry.enum(NoticeEvent, name="NoticeEvent", description="What a notice was sent about.")
NoticeChannels = strawberry.enum(ChannelChoice, name="NoticeChannels",
                                 description="Where notices go: email, SMS, both, or none at all.")


@strawberry.type(name="NoticePreferences",
                  description="The citizen's choice for notices; null fields mean the default (both English and "
                              "Chinese; email when the profile has an address, else SMS).")
class NoticePreferencesType:
    language: Lang | None
    channels: ChannelChoice | None

    @classmethod
    def of(cls, preferences: NoticePreferences) -> NoticePreferencesType:
        return cls(language=preferences.language, channels=preferences.channels)


@strawberry.type(name="Notice", description="An email or SMS sent about an application.")
class NoticeType:
    event: NoticeEvent
    channel: str = strawberry.field(description="email or sms.")
    status: str = strawberry.field(description=(
        "sent; sending while it is being (re)tried; failed once its retry window (a day) passed."))
    subject: str
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, notice: SentNotice) -> NoticeType:
        return cls(event=NoticeEvent(notice.event), channel=notice.channel, status=notice.status,
                   subject=notice.subject, created_at=notice.created_at, sent_at=notice.sent_at)
