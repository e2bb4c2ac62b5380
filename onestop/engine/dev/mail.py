"""Development only: a local SMTP sink (aiosmtpd) and SMS sink, and the page at ``/dev-mail/`` that shows both.

Messages are files under ``<data-dir>/dev-mail/``, so every onestop process on the same data directory (``serve``,
or ``api`` beside ``worker``) shows the same mailbox. A message is stored once per Message-ID, as a mail store
deduplicates: a notice resent after a worker died mid-send is one message here. A mailbox without a directory keeps
its messages in memory (as mail sinks such as MailHog do by default), for a process whose mailbox no other reads:
the applications benchmark's simulated relay, where a file per message cost more CPU than the SMTP conversation.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import os
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

OnMessage = Callable[[EmailMessage], Awaitable[None]]


@dataclass
class DevMailbox:
    directory: Path | None  # None: the messages are kept in memory, for this process only
    # Awaited after a message is stored and before the sink answers 250: a test holds the sender there.
    on_message: OnMessage | None = None
    received: int = 0  # DATA commands accepted, duplicates included
    connections: int = 0  # SMTP connections accepted
    _server: asyncio.Server | None = field(default=None, repr=False)
    _sessions: weakref.WeakSet[SMTP] = field(default_factory=weakref.WeakSet, repr=False)
    _memory: dict[str, bytes] = field(default_factory=dict, repr=False)  # by file name, when no directory

    def __post_init__(self) -> None:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        # aiosmtpd logs every envelope (recipients' addresses) at INFO: personal data stays out of our logs.
        logging.getLogger("mail.log").setLevel(logging.WARNING)

    # ---- the SMTP sink ----

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen for SMTP on the running loop; returns the address."""
        loop = asyncio.get_running_loop()

        # aiosmtpd looks its handler's members up for each connection (inspect.getmembers, which reads every
        # property): the sink's hook alone, not this mailbox with its web app property.
        handler = _SmtpHooks(self)

        def session() -> SMTP:
            self.connections += 1
            smtp = SMTP(handler, hostname="onestop-dev-mail", loop=loop)
            self._sessions.add(smtp)
            return smtp

        self._server = await loop.create_server(session, host=host, port=port)
        bound: tuple[str, int] = self._server.sockets[0].getsockname()[:2]
        return bound

    async def close(self) -> None:
        """Stop listening and drop the open connections, as a relay that goes down does (senders keep theirs open
        between messages)."""
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def open_connections(self) -> int:
        return sum(1 for session in self._sessions if session.transport is not None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # The headers alone name the file (parsing the whole message, the modern way, cost as much as sending it);
        # the whole message is parsed for a listener only.
        headers = BytesHeaderParser(policy=compat32).parsebytes(content)
        self.received += 1
        identity = str(headers.get("Message-ID") or hashlib.sha256(content).hexdigest())
        self._write(f"mail-{hashlib.sha256(identity.encode()).hexdigest()[:32]}.eml", content)
        if self.on_message is not None:
            message = message_from_bytes(content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            await self.on_message(message)
        return "250 Message accepted for delivery"

    # ---- the SMS sink ----

    async def send(self, to: str, text: str, *, key: str) -> None:
        """The development SMS provider: one file per idempotency key."""
        record = {"to": to, "text": text, "at": datetime.now(UTC).isoformat()}
        self._write(f"sms-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json",
                    json.dumps(record, ensure_ascii=False).encode())

    def _write(self, name: str, content: bytes) -> None:
        if self.directory is None:
            self._memory.setdefault(name, content)
            return
        path = self.directory / name
        if path.exists():
            return
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, path)

    # ---- reading ----

    def _stored(self, prefix: str, suffix: str) -> list[bytes]:
        """The stored messages (or texts) whose names have ``prefix`` and ``suffix``, the oldest first."""
        if self.directory is None:
            return [content for name, content in self._memory.items()
                    if name.startswith(prefix) and name.endswith(suffix)]
        paths = sorted(self.directory.glob(f"{prefix}*{suffix}"), key=lambda p: p.stat().st_mtime)
        return [path.read_bytes() for path in paths]

    def mails(self) -> list[dict[str, str]]:
        found = []
        for content in self._stored("mail-", ".eml"):
            message = message_from_bytes(content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(preferencelist=("plain",))
            found.append({"id": str(message["Message-ID"]), "to": str(message["To"]),
                          "subject": str(message["Subject"]), "date": str(message["Date"]),
                          "body": body.get_content() if body is not None else ""})
        return found

    def texts(self) -> list[dict[str, str]]:
        return [json.loads(content) for content in self._stored("sms-", ".json")]

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self._page), Route("/messages.json", self._json)])

    async def _json(self, request: Request) -> JSONResponse:
        return JSONResponse({"mails": self.mails(), "sms": self.texts()})

    async def _page(self, request: Request) -> HTMLResponse:
        def esc(value: Any) -> str:
            return html.escape(str(value))

        mails = "".join(f"<article><h2>{esc(m['subject'])}</h2><p>To {esc(m['to'])} · {esc(m['date'])}</p>"
                        f"<pre>{esc(m['body'])}</pre></article>" for m in reversed(self.mails()))
        texts = "".join(f"<li>{esc(t['at'])} to {esc(t['to'])}: {esc(t['text'])}</li>" for t in reversed(self.texts()))
        page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Development mailbox</title></head>"
                f"<body><h1>Development mailbox</h1><p>Mail and SMS the notices sent in development.</p>"
                f"<section><h1>Email</h1>{mails or '<p>No mail yet.</p>'}</section>"
                f"<section><h1>SMS</h1><ul>{texts}</ul></section></body></html>")
        return HTMLResponse(page)


class _SmtpHooks:
    """The handler aiosmtpd calls: the mailbox's DATA hook, and no other member for it to look up."""

    __slots__ = ("_mailbox",)

    def __init__(self, mailbox: DevMailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self._mailbox.handle_DATA(server, session, envelope)
