"""``notices:``: what the citizen is told, by email or SMS, when something happens to their application.

Each event has a bilingual template; an event a service does not declare uses the platform's default below, so
every service sends receipts without writing a line. Templates are plain text with ``{name}`` placeholders (no
expressions, no markup: nothing in a template can run), each checked at load time against the names its event
offers and the service's computed values. Messages name the service, the reference number and what to do next;
they never carry answers or identity numbers (the citizen reads those after signing in).
"""

from __future__ import annotations

import functools
from enum import StrEnum

from pydantic import Field as Key

from onestop.catalogue.fields import FieldId
from onestop.catalogue.models import DefinitionModel, Duration
from onestop.catalogue.text import LocalizedText


class NoticeEvent(StrEnum):
    """The events that send a notice; the YAML keys under ``notices:``."""

    SUBMITTED = "submitted"
    STATUS_CHANGED = "statusChanged"
    INFORMATION_NEEDED = "informationNeeded"
    PAYMENT_RECEIVED = "paymentReceived"
    APPOINTMENT_REMINDER = "appointmentReminder"
    DRAFT_EXPIRING = "draftExpiring"


_COMMON = frozenset({"service", "reference"})
PLACEHOLDERS: dict[NoticeEvent, frozenset[str]] = {
    NoticeEvent.SUBMITTED: _COMMON,
    NoticeEvent.STATUS_CHANGED: _COMMON | {"status"},
    NoticeEvent.INFORMATION_NEEDED: _COMMON,
    NoticeEvent.PAYMENT_RECEIVED: _COMMON | {"amount"},
    NoticeEvent.APPOINTMENT_REMINDER: _COMMON | {"appointment", "office"},
    # A draft has no reference number yet.
    NoticeEvent.DRAFT_EXPIRING: frozenset({"service", "expiresOn"}),
}
"""The names each event's templates may use besides the service's computed values."""

TIMED = frozenset({NoticeEvent.DRAFT_EXPIRING, NoticeEvent.APPOINTMENT_REMINDER})
"""Events sent ahead of a moment; only these take ``before``."""

DEFAULT_BEFORE = {NoticeEvent.DRAFT_EXPIRING: "P2D", NoticeEvent.APPOINTMENT_REMINDER: "P1D"}


class Notice(DefinitionModel):
    subject: LocalizedText = Key(description="the email's subject; `{reference}`, `{service}` and computed values "
                                 "(`{name}`) may be used")
    body: LocalizedText = Key(description="the email's text: plain text, `{name}` placeholders as in the subject")
    sms: LocalizedText | None = Key(default=None, description="the SMS text (keep it short); the subject when "
                                    "omitted")
    before: Duration | None = Key(default=None, description="draftExpiring and appointmentReminder only: how long "
                                  "before the moment the notice goes out, e.g. P2D")


class NoticeContact(DefinitionModel):
    """Where to write to when the applicant is not signed in: fields of the service that collect a contact."""

    email: FieldId | None = Key(default=None, description="the id of an `email` field")
    phone: FieldId | None = Key(default=None, description="the id of a `phone` field")


class Notices(DefinitionModel):
    submitted: Notice | None = None
    status_changed: Notice | None = None
    information_needed: Notice | None = None
    payment_received: Notice | None = None
    appointment_reminder: Notice | None = None
    draft_expiring: Notice | None = None
    contact: NoticeContact | None = Key(default=None, description="`login: none` services: the fields whose answers "
                                        "receive notices; without it an anonymous applicant gets none")

    def declared(self) -> list[tuple[NoticeEvent, Notice]]:
        """The events this service writes its own template for, in declaration order of the enum."""
        return [(event, notice) for event in NoticeEvent
                if (notice := getattr(self, _attribute(event))) is not None]


def _attribute(event: NoticeEvent) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in event.value)


def _text(en: str, tc: str) -> LocalizedText:
    return LocalizedText.model_validate({"en": en, "tc": tc})


_SIGN_IN = ("Sign in to see the details.", "請登入查看詳情。")


@functools.cache
def default_notices() -> dict[NoticeEvent, Notice]:
    """The platform's template for each event, used when a service declares none for it.

    Built on first use: deriving the Simplified Chinese reads OpenCC's dictionaries, and importing must do no I/O.
    """
    return {
        NoticeEvent.SUBMITTED: Notice(
            subject=_text("We have received your application {reference}", "我們已收到你的申請 {reference}"),
            body=_text("Your application for {service} has been submitted. Your reference number is {reference}; "
                       f"quote it if you contact the department. {_SIGN_IN[0]}",
                       "你的「{service}」申請已經遞交。參考編號為 {reference}，"
                       f"聯絡部門時請提供此編號。{_SIGN_IN[1]}"),
            sms=_text("Application {reference} for {service} received.", "已收到你的「{service}」申請 {reference}。")),
        NoticeEvent.STATUS_CHANGED: Notice(
            subject=_text("Your application {reference} is now: {status}", "你的申請 {reference} 狀態：{status}"),
            body=_text("The status of your application {reference} for {service} is now: {status}. "
                       f"{_SIGN_IN[0]}",
                       f"你的「{{service}}」申請 {{reference}} 現時狀態為：{{status}}。{_SIGN_IN[1]}"),
            sms=_text("Application {reference}: {status}.", "申請 {reference}：{status}。")),
        NoticeEvent.INFORMATION_NEEDED: Notice(
            subject=_text("More information needed for application {reference}", "申請 {reference} 需要補充資料"),
            body=_text("The department needs more information for your application {reference} for {service}. Sign in "
                       "to read the request and reply.",
                       "部門需要你為「{service}」申請 {reference} 補充資料。請登入閱讀要求並回覆。"),
            sms=_text("Application {reference}: more information needed. Sign in to reply.",
                      "申請 {reference} 需要補充資料，請登入回覆。")),
        NoticeEvent.PAYMENT_RECEIVED: Notice(
            subject=_text("Payment received for application {reference}", "已收到申請 {reference} 的付款"),
            body=_text(f"We have received your payment of {{amount}} for application {{reference}} ({{service}}). "
                       f"{_SIGN_IN[0]}",
                       f"我們已收到你為申請 {{reference}}（{{service}}）繳付的 {{amount}}。{_SIGN_IN[1]}"),
            sms=_text("Payment of {amount} received for application {reference}.",
                      "已收到申請 {reference} 的付款 {amount}。")),
        NoticeEvent.APPOINTMENT_REMINDER: Notice(
            subject=_text("Reminder: your appointment on {appointment}", "提示：你於 {appointment} 的預約"),
            body=_text(f"This is a reminder of your appointment for {{service}} at {{office}} on {{appointment}} "
                       f"(application {{reference}}). {_SIGN_IN[0]}",
                       "提示你「{service}」的預約：{appointment}，地點：{office}"
                       f"（申請 {{reference}}）。{_SIGN_IN[1]}"),
            sms=_text("Reminder: appointment {appointment} at {office} ({reference}).",
                      "提示：{appointment} 於 {office} 的預約（{reference}）。"),
            before=DEFAULT_BEFORE[NoticeEvent.APPOINTMENT_REMINDER]),
        NoticeEvent.DRAFT_EXPIRING: Notice(
            subject=_text("Your draft application for {service} expires soon", "你的「{service}」申請草稿即將失效"),
            body=_text("Your draft application for {service} will expire on {expiresOn} and its answers will be "
                       "deleted. Sign in to finish and submit it before then.",
                       "你的「{service}」申請草稿將於 {expiresOn} 失效，已填寫的答案會被刪除。"
                       "請在此之前登入完成並遞交。"),
            sms=_text("Your draft for {service} expires on {expiresOn}.",
                      "你的「{service}」申請草稿將於 {expiresOn} 失效。"),
            before=DEFAULT_BEFORE[NoticeEvent.DRAFT_EXPIRING]),
    }


def notice_for(notices: Notices | None, event: NoticeEvent) -> Notice:
    """The service's template for ``event``, else the platform's."""
    own = getattr(notices, _attribute(event)) if notices is not None else None
    return own if own is not None else default_notices()[event]
