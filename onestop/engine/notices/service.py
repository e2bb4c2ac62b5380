"""``NoticeService``: who a notice goes to, in which language and on which channels; sending it exactly once.

Each (notice, channel) is a row of ``notices_sent`` written *before* the send, keyed on the notice's idempotency
key. A retry (a new activity attempt after a worker died, a replayed request) finds the row: ``sent`` means done;
``sending`` means an earlier attempt may have gone out, and the resend carries the same Message-ID (or SMS
idempotency key), which the receiving store deduplicates. The row's text and recipient are encrypted.

Workflows hand their notices to ``enqueue`` from a local activity they run anyway (a transactional outbox): the
rows are written there, once per key, and this process sends them straight after, beside the workflow. A process
that dies before a row is sent leaves it ``sending``; the relay's sweep (``relay``, run by every worker) claims it
again after ``lease``, backing off, for the notice's ``window``, and then marks it ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from onestop.catalogue.text import Lang
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.data.profiles import CitizenDirectory, ProfileService
from onestop.engine.db import Database, NoticePreferenceRow, NoticeRow, ProfileRow
from onestop.engine.db.prepared import Executor, commits_with_next, insert_for, prepared, table_of, write_alone
from onestop.engine.errors import InvalidInput, field_error
from onestop.engine.notices.channels import Mailer, SmsProvider
from onestop.engine.notices.render import Rendered, render
from onestop.workflows.contracts import NoticeRequest, NoticeResult

log = logging.getLogger(__name__)


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class ChannelChoice(StrEnum):
    """A citizen's choice of channels; no choice: email when the profile has an address, else SMS."""

    EMAIL = "email"
    SMS = "sms"
    BOTH = "both"
    NONE = "none"


@dataclass(frozen=True)
class Recipient:
    email: str | None = None
    phone: str | None = None
    language: str | None = None  # None: English and Chinese
    choice: ChannelChoice | None = None

    def channels(self) -> list[Channel]:
        match self.choice:
            case ChannelChoice.NONE:
                return []
            case ChannelChoice.BOTH:
                return [Channel.EMAIL, Channel.SMS]
            case ChannelChoice.EMAIL:
                return [Channel.EMAIL]
            case ChannelChoice.SMS:
                return [Channel.SMS]
        return [Channel.EMAIL] if self.email else [Channel.SMS]


@dataclass(frozen=True)
class NoticePreferences:
    language: Lang | None = None
    channels: ChannelChoice | None = None


@dataclass(frozen=True)
class SentNotice:
    """What the citizen may see of a notice: never the address, the text only to its owner."""

    id: str
    application_id: str
    event: str
    channel: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    subject: str


def _aad(key: str) -> str:
    return f"notices_sent.message|{key}"


SENDING, SENT, FAILED = "sending", "sent", "failed"


def _claim(dialect: str) -> Any:
    notices = NoticeRow.__table__
    return (insert_for(dialect)(notices).on_conflict_do_nothing(index_elements=[notices.c.key])
            .returning(notices.c.id))


@dataclass
class OutboxRow:
    """A ``notices_sent`` row as ``write`` inserts it: its columns (``vars`` of it are the insert's values), a plain
    object where an ORM instance cost more to build than the rest of the row."""

    id: str
    key: str
    application_id: str
    citizen_ref: str
    event: str
    channel: str
    status: str
    attempts: int
    message: str
    created_at: datetime
    sent_at: datetime | None


def _contact(dialect: str) -> Any:
    """A citizen's address and phone (ciphertext) and notice preferences, in one statement; no row: no profile."""
    profiles, preferences = ProfileRow.__table__, NoticePreferenceRow.__table__
    return (select(profiles.c.email, profiles.c.phone, preferences.c.language, preferences.c.channels)
            .select_from(profiles.outerjoin(preferences, preferences.c.citizen_id == profiles.c.citizen_id))
            .where(profiles.c.citizen_id == bindparam("citizen")))


def _sent(dialect: str) -> Any:
    notices = table_of(NoticeRow)
    return update(notices).where(notices.c.id == bindparam("row")).values(status=SENT,
                                                                           sent_at=bindparam("sent_at"))


def _unsent(dialect: str) -> Any:
    """The rows claimed before ``before`` and not sent, the oldest first (by the status and time index)."""
    notices = table_of(NoticeRow)
    return (select(notices.c.id, notices.c.attempts, notices.c.created_at)
            .where(notices.c.status == SENDING, notices.c.created_at < bindparam("before"))
            .order_by(notices.c.created_at).limit(500))


_BACKOFF_CAP = timedelta(minutes=10)


def _due(created_at: datetime, attempts: int, lease: timedelta) -> datetime:
    """When a row claimed ``attempts`` times may be claimed again: a lease after its first claim, then twice as long
    each time (at most ten minutes between claims), as a notice activity's retry policy did."""
    waited, step = timedelta(0), lease
    for _ in range(max(attempts, 1)):
        waited += min(step, _BACKOFF_CAP)
        step *= 2
    return created_at + waited


@dataclass
class Outbox:
    """What ``NoticeService.write`` queued in a transaction: the rows to send (each with its clear text) and each
    notice's outcome by channel."""

    claimed: list[tuple[OutboxRow, dict[str, Any]]] = field(default_factory=list)
    done: list[tuple[NoticeRequest, dict[str, str]]] = field(default_factory=list)


@dataclass
class NoticeService:
    database: Database
    cipher: FieldCipher
    citizens: CitizenDirectory
    profiles: ProfileService
    mailer: Mailer | None = None
    sms: SmsProvider | None = None
    # Where the citizen signs in to read the details; added under the text.
    link: str | None = None
    # The relay: a send not finished after ``lease`` (longer than the mailer's timeout) is claimed again, with
    # backoff, until ``window`` after the notice was queued; the sweep looks every ``sweep_seconds``.
    lease: timedelta = timedelta(seconds=30)
    window: timedelta = timedelta(hours=24)
    sweep_seconds: float = 5.0
    _now: Any = field(default=lambda: datetime.now(UTC), repr=False)
    _sending: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    # Rows sent and not yet recorded so (``_record_sent``), and whether a send is recording them.
    _unrecorded: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _recording: bool = field(default=False, repr=False)

    async def enqueue(self, requests: Sequence[NoticeRequest]) -> None:
        """Write each notice's rows (one per channel), once per key, then send them from this process, beside the
        caller: a slow mail relay holds up no workflow. What is not sent here, the relay's sweep sends."""
        outbox: Outbox | None = None
        for attempt in range(2):
            try:
                # One transaction for the lot: recipients read, rows written (it runs inside a citizen's submit).
                async with self.database.engine.begin() as connection:
                    outbox = await self.write(connection, requests, await self.recipients(connection, requests),
                                              ends_transaction=True)
                break
            except IntegrityError:
                if attempt:
                    raise
                # A concurrent attempt wrote one of the keys first: look again.
        if outbox is not None:
            self.dispatch(outbox)

    async def recipients(self, session: Executor, requests: Sequence[NoticeRequest]) -> list[Recipient | None]:
        """Each request's recipient (``recipient``), read in ``session``: for ``write``, before the transaction's
        first write, so that SQLite's write lock is not held across these reads."""
        return [await self.recipient(request, session) for request in requests]

    async def write(self, session: Executor, requests: Sequence[NoticeRequest],
                    recipients: Sequence[Recipient | None] | None = None, *, ends_transaction: bool = False
                    ) -> Outbox:
        """``enqueue``'s rows in the caller's transaction (a key an earlier or concurrent attempt wrote first is a
        duplicate, left to that attempt); once it has committed, ``dispatch`` sends them. ``recipients``: each
        request's, read beforehand (``recipients``); read here otherwise. ``ends_transaction``: the caller commits
        straight after, so the last row's insert may commit in its own trip (``commits_with_next``)."""
        if recipients is None:
            recipients = await self.recipients(session, requests)
        outbox = Outbox()
        queued = [(request, *self._rows(request, recipient))
                  for request, recipient in zip(requests, recipients, strict=True)]
        last = next((rows[-1][0] for _, rows, _ in reversed(queued) if rows), None)
        for request, rows, outcomes in queued:
            present: set[str] = set()
            for row, text in rows:
                if ends_transaction and row is last:
                    await commits_with_next(session)
                # Written unless a row of its key is there already (an earlier attempt's): one statement each.
                if (await session.execute(prepared(session, _claim), vars(row))).first() is None:
                    present.add(row.key)
                else:
                    outbox.claimed.append((row, text))
            outbox.done.append((request, outcomes | {row.channel: "duplicate" for row, _ in rows
                                                     if row.key in present}))
        return outbox

    def dispatch(self, outbox: Outbox) -> None:
        """Log what ``write`` queued and send its rows from this process, beside the caller (committed first)."""
        for request, outcomes in outbox.done:
            # Keys and outcomes only: the address and the text never reach the log.
            log.info("notice %s: %s", request.key, outcomes, extra={"notice_event": request.event})
        if outbox.claimed:
            task = asyncio.get_running_loop().create_task(self._send_rows(outbox.claimed))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _rows(self, request: NoticeRequest, recipient: Recipient | None
              ) -> tuple[list[tuple[OutboxRow, dict[str, Any]]], dict[str, str]]:
        """The outbox rows for ``request`` to ``recipient`` (one per channel it goes out on, each with its clear
        text), and each channel's outcome."""
        if recipient is None:
            return [], {"any": "no-contact"}
        channels = recipient.channels()
        if not channels:
            return [], {"any": "opted-out"}
        rendered = render(request, recipient.language, link=self.link)
        rows: list[tuple[OutboxRow, dict[str, Any]]] = []
        outcomes: dict[str, str] = {}
        for channel in channels:
            address = recipient.email if channel is Channel.EMAIL else recipient.phone
            transport = self.mailer if channel is Channel.EMAIL else self.sms
            if not address:
                outcomes[channel.value] = "no-contact"
            elif transport is None:
                outcomes[channel.value] = "no-channel"
            else:
                rows.append(self._row(request, channel, address, rendered))
                outcomes[channel.value] = "queued"
        return rows, outcomes

    def _row(self, request: NoticeRequest, channel: Channel, address: str,
             rendered: Rendered) -> tuple[OutboxRow, dict[str, Any]]:
        key = f"{request.key}/{channel.value}"
        text: dict[str, Any] = {"to": address, "subject": rendered.subject,
                                "body": rendered.body if channel is Channel.EMAIL else rendered.sms}
        # Claimed by this process as it is written: the send follows at once (attempt 1).
        return OutboxRow(id=str(uuid.uuid4()), key=key, application_id=request.application_id,
                         citizen_ref=request.citizen_ref, event=request.event, channel=channel.value,
                         status=SENDING, attempts=1, message=self.cipher.encrypt_json(text, _aad(key)),
                         created_at=self._now(), sent_at=None), text

    async def _send_rows(self, rows: Sequence[tuple[OutboxRow, dict[str, Any]]]) -> None:
        for row, text in rows:  # as this process has just written them: no need to read them back
            await self._send(row, text)

    async def _send_row(self, row_id: str) -> None:
        """Send a row this process has claimed, and record it sent; a failure leaves it to the sweep."""
        async with self.database.session() as session:
            row = await session.get(NoticeRow, row_id)
        if row is None or row.status != SENDING:
            return
        await self._send(row, self.cipher.decrypt_json(row.message, _aad(row.key)))

    async def _send(self, row: NoticeRow | OutboxRow, text: dict[str, Any]) -> None:
        try:
            if row.channel == Channel.EMAIL.value:
                assert self.mailer is not None, "rows are written only for a channel with a transport"
                await self.mailer.send(str(text["to"]), str(text["subject"]), str(text["body"]), key=row.key)
            else:
                assert self.sms is not None, "rows are written only for a channel with a transport"
                await self.sms.send(str(text["to"]), str(text["body"]), key=row.key)
        except Exception as exc:
            log.warning("notice %s not sent (attempt %d): %s", row.key, row.attempts, type(exc).__name__,
                        extra={"notice_event": row.event})
            return
        await self._record_sent({"row": row.id, "sent_at": self._now()})

    async def _record_sent(self, sent: dict[str, Any]) -> None:
        """Mark a row sent. The rows whose sends finish while one send is writing its record go in its next write
        (one statement and one commit for them all): under load, sends finish close together. A write that
        fails leaves its rows to the sweep, which sends them again with the same Message-ID."""
        self._unrecorded.append(sent)
        if self._recording:
            return  # the send writing now writes this one next
        self._recording = True
        try:
            while self._unrecorded:
                batch, self._unrecorded = self._unrecorded, []
                try:
                    await write_alone(self.database.engine, _sent, batch[0] if len(batch) == 1 else batch)
                except Exception as exc:
                    log.warning("%d sent notices not recorded as sent: %s", len(batch), type(exc).__name__)
        finally:
            self._recording = False

    async def sweep(self) -> int:
        """Claim and send the rows whose send did not finish (the process died, or the channel failed), each when
        its backoff is due; mark those past the window failed. Returns how many were sent again."""
        now = self._now()
        # One read when there is nothing to do, as on almost every sweep: no write transaction (on SQLite, no
        # write lock) unless a row is past its window.
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(prepared(connection, _unsent), {"before": now - self.lease})).all()
        if rows and rows[0].created_at < now - self.window:  # the oldest first
            async with self.database.session() as session:
                expired = await session.execute(
                    update(NoticeRow).where(NoticeRow.status == SENDING, NoticeRow.created_at < now - self.window)
                    .values(status=FAILED))
            if expired.rowcount:  # type: ignore[attr-defined]
                log.warning("%d notices were given up after their retry window", expired.rowcount)  # type: ignore[attr-defined]
            rows = [row for row in rows if row.created_at >= now - self.window]
        resent = 0
        for row_id, attempts, created_at in rows:
            if _due(created_at, attempts, self.lease) > now:
                continue
            async with self.database.session() as session:
                won = await session.execute(
                    update(NoticeRow).where(NoticeRow.id == row_id, NoticeRow.status == SENDING,
                                            NoticeRow.attempts == attempts)
                    .values(attempts=attempts + 1))
            if won.rowcount == 1:  # type: ignore[attr-defined]  # another relay may have claimed it first
                await self._send_row(row_id)
                resent += 1
        return resent

    async def relay(self) -> None:
        """Sweep every ``sweep_seconds`` until cancelled (every worker runs one)."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("the notice relay's sweep failed; trying again")
            await asyncio.sleep(self.sweep_seconds)

    async def aclose(self) -> None:
        """Let the sends under way finish (briefly); what is left, the next sweep sends. Then close the mailer's
        open connections."""
        if self._sending:
            _, pending = await asyncio.wait(set(self._sending), timeout=5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)  # their clean-up gives their database connections back before it closes
        if self._unrecorded and not self._recording:  # a cancelled send's batch
            await self._record_sent(self._unrecorded.pop())
        if self.mailer is not None:
            await self.mailer.aclose()

    async def send(self, request: NoticeRequest) -> NoticeResult:
        """Send ``request`` on the recipient's channels, each at most once per key (see the module's text)."""
        recipient = await self.recipient(request)
        if recipient is None:
            return NoticeResult(request.key, {"any": "no-contact"})
        outcomes: dict[str, str] = {}
        channels = recipient.channels()
        if not channels:
            return NoticeResult(request.key, {"any": "opted-out"})
        rendered = render(request, recipient.language, link=self.link)
        for channel in channels:
            address = recipient.email if channel is Channel.EMAIL else recipient.phone
            transport = self.mailer if channel is Channel.EMAIL else self.sms
            if not address:
                outcomes[channel.value] = "no-contact"
            elif transport is None:
                outcomes[channel.value] = "no-channel"
            else:
                outcomes[channel.value] = await self._once(request, channel, address, rendered)
        # Keys and outcomes only: the address and the text never reach the log.
        log.info("notice %s: %s", request.key, outcomes, extra={"notice_event": request.event})
        return NoticeResult(request.key, outcomes)

    async def recipient(self, request: NoticeRequest, session: Executor | None = None) -> Recipient | None:
        """Where the notice goes: the contact an anonymous applicant gave, or the citizen's e-ME profile (read in
        ``session`` when given)."""
        if request.contact:
            return Recipient(email=request.contact.get("email"), phone=request.contact.get("phone"))
        citizen = await self.citizens.by_ref(request.citizen_ref)
        if citizen is None:
            return None  # an anonymous applicant who left no contact
        reader = contextlib.nullcontext(session) if session is not None else self.database.engine.connect()
        async with reader as reading:
            # The two items it needs, not the whole profile (each item is a decryption), and the preferences.
            row = (await reading.execute(prepared(reading, _contact), {"citizen": citizen.id})).first()
        if row is None:
            return None
        email = self.profiles.item(citizen.id, "email", row.email)
        phone = self.profiles.item(citizen.id, "phone", row.phone)
        if not (email or phone):
            return None
        return Recipient(email=email, phone=phone, language=row.language,
                         choice=ChannelChoice(row.channels) if row.channels else None)

    async def _once(self, request: NoticeRequest, channel: Channel, address: str, rendered: Rendered) -> str:
        key = f"{request.key}/{channel.value}"
        text = {"to": address, "subject": rendered.subject,
                "body": rendered.body if channel is Channel.EMAIL else rendered.sms}
        row_id = await self._claim(request, channel, key, text)
        if row_id is None:
            return "duplicate"
        if channel is Channel.EMAIL:
            assert self.mailer is not None
            await self.mailer.send(address, rendered.subject, rendered.body, key=key)
        else:
            assert self.sms is not None
            await self.sms.send(address, rendered.sms, key=key)
        async with self.database.session() as session:
            row = await session.get(NoticeRow, row_id)
            assert row is not None
            row.status, row.sent_at = "sent", self._now()
        return "sent"

    async def _claim(self, request: NoticeRequest, channel: Channel, key: str, text: dict[str, str]) -> str | None:
        """The outbox row's id to send under, or None when this key was sent already."""
        async with self.database.session() as session:
            row = await session.scalar(select(NoticeRow).where(NoticeRow.key == key))
            if row is not None:
                if row.status == "sent":
                    return None
                row.attempts += 1
                return row.id
        row = NoticeRow(id=str(uuid.uuid4()), key=key, application_id=request.application_id,
                        citizen_ref=request.citizen_ref, event=request.event, channel=channel.value,
                        status="sending", attempts=1, message=self.cipher.encrypt_json(text, _aad(key)),
                        created_at=self._now(), sent_at=None)
        try:
            async with self.database.session() as session:
                session.add(row)
        except IntegrityError:
            return await self._claim(request, channel, key, text)  # another attempt wrote it first
        return row.id

    async def for_application(self, application_id: str, citizen_ref: str) -> list[SentNotice]:
        """The notices of one application, for its owner (``citizen_ref`` must match), oldest first."""
        async with self.database.session() as session:
            rows = (await session.scalars(
                select(NoticeRow).where(NoticeRow.application_id == application_id,
                                        NoticeRow.citizen_ref == citizen_ref)
                .order_by(NoticeRow.created_at, NoticeRow.key))).all()
        return [SentNotice(row.id, row.application_id, row.event, row.channel, row.status, row.created_at,
                           row.sent_at, str(self.cipher.decrypt_json(row.message, _aad(row.key))["subject"]))
                for row in rows]

    async def preferences(self, sub: str) -> NoticePreferences:
        citizen = await self.citizens.get(sub)
        if citizen is None:
            return NoticePreferences()
        async with self.database.session() as session:
            row = await session.get(NoticePreferenceRow, citizen.id)
        if row is None:
            return NoticePreferences()
        return NoticePreferences(Lang(row.language) if row.language else None,
                                 ChannelChoice(row.channels) if row.channels else None)

    async def set_preferences(self, sub: str, *, language: str | None, channels: str | None) -> NoticePreferences:
        """Store the caller's choice (None: the default); refuses an unknown language or channel."""
        errors = []
        if language is not None and language not in {lang.value for lang in Lang}:
            errors.append(field_error(("language",), f"'{language}' is not a language notices are sent in; "
                                      "use en, tc or sc", "INVALID_VALUE"))
        if channels is not None and channels not in {choice.value for choice in ChannelChoice}:
            errors.append(field_error(("channels",), f"'{channels}' is not a choice of channels; use email, sms, "
                                      "both or none", "INVALID_VALUE"))
        if errors:
            raise InvalidInput(errors)
        citizen = await self.citizens.ensure(sub)
        async with self.database.session() as session:
            row = await session.get(NoticePreferenceRow, citizen.id)
            if row is None:
                row = NoticePreferenceRow(citizen_id=citizen.id, updated_at=self._now())
                session.add(row)
            row.language, row.channels, row.updated_at = language, channels, self._now()
        return NoticePreferences(Lang(language) if language else None,
                                 ChannelChoice(channels) if channels else None)
