"""The ways a notice leaves: email over SMTP, and SMS behind a provider interface.

Both take the notice's idempotency key. Email carries it as a deterministic ``Message-ID`` (RFC 5322 §3.6.4: one
message, one id), so a resend after a worker died between the relay's acceptance and our record of it is the same
message to every mail store that deduplicates by id; an SMS provider takes it as its request's idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
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


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str, *, key: str) -> None: ...

    async def aclose(self) -> None:
        """Close what the mailer keeps open between messages."""


class SmsProvider(Protocol):
    """An SMS gateway. A real one forwards ``key`` as its API's idempotency key."""

    async def send(self, to: str, text: str, *, key: str) -> None: ...


class SmtpMailer:
    """Email through an SMTP relay (aiosmtplib), over connections kept open between messages.

    A connection goes back to the pool (at most ``keep`` of them) after the relay accepted a message on it; one on
    which anything failed is closed. A pooled connection the relay has closed meanwhile (relays drop idle ones: RFC
    5321 §4.5.3.2.7 asks them to wait at least 5 minutes) fails at its first command, and the message goes once more
    on the next one, or a new one. Should the relay have dropped it after taking the data, the second copy has the
    same Message-ID (see the module's text). Connections idle for longer than ``idle`` seconds are closed unused.
    """

    def __init__(self, host: str, port: int, *, sender: str, security: SmtpSecurity = SmtpSecurity.STARTTLS,
                 username: str | None = None, password: str | None = None, timeout: float = 30.0,
                 idle: float = 60.0, keep: int = 4) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.security, self.username, self.password, self.timeout = security, username, password, timeout
        self.idle, self.keep = idle, keep
        # Open connections not in use, the latest used last, each with the loop it belongs to and when it was
        # last used.
        self._pool: list[tuple[aiosmtplib.SMTP, asyncio.AbstractEventLoop, float]] = []

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
        message = self.compose(to, subject, body, key=key)
        while (pooled := self._take()) is not None:
            try:
                await pooled.send_message(message)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                pooled.close()  # the relay had closed it: try the next, or a new one
                continue
            except BaseException:
                pooled.close()
                raise
            self._give_back(pooled)
            return
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, username=self.username,
                                 password=self.password, timeout=self.timeout,
                                 use_tls=self.security is SmtpSecurity.TLS,
                                 start_tls=self.security is SmtpSecurity.STARTTLS)
        try:
            await client.connect()
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        self._give_back(client)

    def _take(self) -> aiosmtplib.SMTP | None:
        """The most recently used open connection of this loop; those idle too long, or closed, are dropped (one of
        another loop, which only a test's next loop meets, is left to that loop's end)."""
        loop = asyncio.get_running_loop()
        oldest = time.monotonic() - self.idle
        while self._pool:
            client, owner, used = self._pool.pop()
            if owner is not loop:
                continue
            if used >= oldest and client.is_connected:
                return client
            client.close()
        return None

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if len(self._pool) >= self.keep:
            client.close()
            return
        self._pool.append((client, asyncio.get_running_loop(), time.monotonic()))

    async def aclose(self) -> None:
        """Say QUIT on every pooled connection (briefly) and close it."""
        pool, self._pool = self._pool, []
        loop = asyncio.get_running_loop()
        for client, owner, _ in pool:
            if owner is not loop:
                continue
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await asyncio.wait_for(client.quit(), timeout=2)
            client.close()
