"""Notices to applicants: templates rendered per language, email over SMTP and SMS, each sent exactly once."""

from onestop.engine.notices.channels import Mailer, SmsProvider, SmtpMailer, message_id
from onestop.engine.notices.render import Rendered, render
from onestop.engine.notices.service import (
    Channel,
    ChannelChoice,
    NoticePreferences,
    NoticeService,
    Outbox,
    Recipient,
    SentNotice,
)

__all__ = ["Channel", "ChannelChoice", "Mailer", "NoticePreferences", "NoticeService", "Outbox", "Recipient",
           "Rendered", "SentNotice", "SmsProvider", "SmtpMailer", "message_id", "render"]
