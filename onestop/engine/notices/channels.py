"""The ways a notice leaves: email over SMTP, and SMS behind a provider interface.

Both take the notice's idempotency key. Email carries it as a deterministic ``Message-ID`` (RFC 5322 §3.6.4: one
message, one id), so a resend after a worker died between the relay's acceptance and our record of it is the same
message to every mail store that deduplicates by id; an SMS provider takes it as its request's idempotency key.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from typing import Protocol

import aiosmtplib

from onestop.config import Settings, SmtpSecurity


def message_id(key: str, sender: str) -> str:
    domain = parseaddr(sender)[1].partition("@")[2] or "onestop.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


_local_hostname: list[str] = []  # this host's name as EHLO gives it, once found


async def local_hostname() -> str:
    """The name EHLO gives for this host (``socket.getfqdn``, which aiosmtplib asks in a thread for every message,
    two trips through the event loop each): found once per process, in a thread (it may ask DNS), then kept."""
    if not _local_hostname:
        _local_hostname.append(await asyncio.to_thread(socket.getfqdn))
    return _local_hostname[0]


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str, *, key: str) -> None: ...


class SmsProvider(Protocol):
    """An SMS gateway. A real one forwards ``key`` as its API's idempotency key."""

    async def send(self, to: str, text: str, *, key: str) -> None: ...


class SmtpMailer:
    """Email through an SMTP relay (aiosmtplib); one connection per message, which is fine at notice volumes."""

    def __init__(self, host: str, port: int, *, sender: str, security: SmtpSecurity = SmtpSecurity.STARTTLS,
                 username: str | None = None, password: str | None = None, timeout: float = 30.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.security, self.username, self.password, self.timeout = security, username, password, timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer | None:
        if settings.smtp_host is None:
            return None
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(settings.smtp_host, settings.smtp_port, sender=settings.mail_from,
                   security=settings.smtp_security, username=settings.smtp_username, password=password)

    def compose(self, to: str, subject: str, body: str, *, key: str) -> Message:
        # The compat32 classes: the modern EmailMessage parses every header it is given back into objects, which
        # cost more CPU than the rest of a notice's send. The text is UTF-8 (base64), the subject RFC 2047 encoded.
        message = MIMEText(body, "plain", "utf-8")
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(key, self.sender)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
        return message

    async def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        await aiosmtplib.send(
            self.compose(to, subject, body, key=key), hostname=self.host, port=self.port,
            local_hostname=await local_hostname(),
            username=self.username, password=self.password, timeout=self.timeout,
            use_tls=self.security is SmtpSecurity.TLS, start_tls=self.security is SmtpSecurity.STARTTLS,
        )
