"""The ways a notice leaves: email over SMTP, and SMS behind a provider interface.

Both take the notice's idempotency key. Email carries it as a deterministic ``Message-ID`` (RFC 5322 §3.6.4: one
message, one id), so a resend after a worker died between the relay's acceptance and our record of it is the same
message to every mail store that deduplicates by id; an SMS provider takes it as its request's idempotency key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import re
import time
from email.message import Message
from email.mime.text import MIMEText
from email.utils import formatdate, getaddresses, parseaddr
from typing import Protocol

import aiosmtplib

from onestop.config import Settings, SmtpSecurity


def message_id(key: str, sender: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{_domain(sender)}>"


@functools.lru_cache(maxsize=8)
def _domain(sender: str) -> str:
    return parseaddr(sender)[1].partition("@")[2] or "onestop.invalid"


_BARE_ADDRESS = re.compile(r"[\w.+-]+@[\w.-]+", re.ASCII)
LINE = 78
"""RFC 5322 §2.1.1: header lines SHOULD be at most 78 characters; so are those ``plain_message`` writes."""


def _plain_header(value: str) -> bool:
    """Whether ``value`` may stand in a header as it is: printable ASCII, no line break (no header injection)."""
    return value.isascii() and value.isprintable()


def encoded_words(text: str, first: int) -> str:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), each at most 75 characters and of whole characters
    (§5), folded so that no line is longer than ``LINE``; ``first``: the characters before it on its first line."""
    data = text.encode()
    words = []
    start, room = 0, min(75, LINE - first) - 12  # 12: "=?utf-8?b?" and "?="
    while start < len(data):
        end = min(len(data), start + room // 4 * 3)
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode()}?=")
        start, room = end, min(75, LINE - 1) - 12
    return "\r\n ".join(words)


def plain_message(sender: str, to: str, subject: str, body: str, *, key: str, date: str) -> bytes | None:
    """The message ``SmtpMailer.compose`` builds, as the bytes its generator writes (the same headers, the subject
    RFC 2047 encoded when it is not short plain ASCII, the UTF-8 text in base64), built directly: the generator's
    header folding cost more CPU than the rest of a notice. None when an address is not plain ASCII on one line,
    which ``compose`` handles."""
    if not (_plain_header(sender) and _plain_header(to)) or len(sender) > LINE - 6 or len(to) > LINE - 4:
        return None
    if not (_plain_header(subject) and len(subject) <= LINE - 9 and "=?" not in subject):  # not read as encoded
        subject = encoded_words(subject, len("Subject: "))
    text = binascii.b2a_base64(body.encode(), newline=False)
    lines = b"\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    head = ('Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n'
            f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: {message_id(key, sender)}\r\nAuto-Submitted: auto-generated\r\n\r\n")
    return head.encode() + lines + b"\r\n"


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
        self._envelope_sender = parseaddr(sender)[1] or sender.strip()
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
        # As ``plain_message`` does: in encoded-words unless it is short plain ASCII on one line that cannot be read as
        # one (the email package would fold a long one where a reader puts a space back).
        plain = _plain_header(subject) and len(subject) <= LINE - 9 and "=?" not in subject
        message["Subject"] = subject if plain else encoded_words(subject, len("Subject: "))
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(key, self.sender)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
        return message

    async def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        message: bytes | Message | None = plain_message(self.sender, to, subject, body, key=key,
                                                        date=formatdate(usegmt=True))
        if message is None:
            message = self.compose(to, subject, body, key=key)
        while (pooled := self._take()) is not None:
            try:
                await self._transmit(pooled, to, message)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                pooled.close()  # the relay had closed it: try the next, or a new one
                continue
            except aiosmtplib.SMTPResponseException as refused:
                pooled.close()
                if refused.code == 421:  # the relay is closing this connection (too many messages on it, load)
                    continue
                raise
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
            await self._transmit(client, to, message)
        except BaseException:
            client.close()
            raise
        self._give_back(client)

    async def _transmit(self, client: aiosmtplib.SMTP, to: str, message: bytes | Message) -> None:
        if isinstance(message, Message):
            await client.send_message(message)
            return
        # The envelope ``send_message`` would take from the From and To headers (a bare address is itself).
        recipients = [to] if _BARE_ADDRESS.fullmatch(to) else [address for _, address in getaddresses([to])]
        await client.sendmail(self._envelope_sender, recipients, message)

    def _take(self) -> aiosmtplib.SMTP | None:
        """The most recently used open connection of this loop; those idle too long, or closed, are dropped (one of
        another loop, which only a test's next loop meets, is left to that loop's end)."""
        loop = asyncio.get_running_loop()
        oldest = time.monotonic() - self.idle
        usable = []
        for client, owner, used in self._pool:
            if owner is not loop:
                continue
            if used >= oldest and client.is_connected:
                usable.append((client, owner, used))
            else:
                client.close()  # every stale one, not only those above a fresh one
        self._pool = usable
        return usable.pop()[0] if usable else None

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
