"""Notices: the recipient from the e-ME profile and preferences, exactly once per key over a real SMTP sink, no
personal data in the text, the outbox encrypted at rest."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import text

from onestop.config import SmtpSecurity
from onestop.engine.applications import index
from onestop.engine.applications.activities import ApplicationActivities
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.data.gateway import DataServices
from onestop.engine.db import Database, NoticeRow
from onestop.engine.dev.mail import DevMailbox
from onestop.engine.errors import InvalidInput
from onestop.engine.notices import NoticeService, SmtpMailer, render
from onestop.engine.notices import service as notice_service
from onestop.engine.notices.service import OutboxRow
from onestop.workflows.contracts import (
    IndexEntry,
    NoticeRequest,
    PrefillRequest,
    PrefillResult,
    ReferenceRequest,
    Status,
)

ADDRESS = {"flat": "C", "floor": "21", "building": "Laguna City", "street": "12 Cha Kwo Ling Road",
           "district": "kwun-tong", "region": "KLN"}
CHANGES = {"nameEn": "WONG, Ka Fai", "nameZh": "黃家輝", "dateOfBirth": "1988-01-22", "hkid": "K305518(3)",
           "phone": "6234 5678", "email": "kafai.wong@example.com", "residentialAddress": ADDRESS}
SUBMITTED = NoticeRequest(
    key="app-1/submitted/2", event="submitted", application_id="app-1", citizen_ref="", service_id="renew",
    service_title={"en": "Renew a driving licence", "tc": "續領駕駛執照", "sc": "续领驾驶执照"},
    subject={"en": "We have received {reference}", "tc": "已收到 {reference}", "sc": "已收到 {reference}"},
    body={"en": "Your {service} application {reference}: {fee}. {hkid}", "tc": "你的{service}申請 {reference}。",
          "sc": "你的{service}申请 {reference}。"},
    sms={"en": "Received {reference}", "tc": "已收到 {reference}", "sc": "已收到 {reference}"},
    reference_number="TD-2026-000042", values={"fee": "HK$900", "hkid": "K305518(3)"},
)


@pytest.fixture
async def mailbox(tmp_path: Path) -> AsyncIterator[tuple[DevMailbox, SmtpMailer]]:
    box = DevMailbox(tmp_path / "mail")
    host, port = await box.start()
    try:
        yield box, SmtpMailer(host, port, sender="onestop <no-reply@onestop.test>", security=SmtpSecurity.NONE)
    finally:
        await box.close()


@pytest.fixture
async def notices(database: Database, cipher: FieldCipher, data_services: DataServices,
                  mailbox: tuple[DevMailbox, SmtpMailer]) -> NoticeService:
    return NoticeService(database, cipher, data_services.citizens, data_services.profiles, mailer=mailbox[1],
                         sms=mailbox[0], link="https://onestop.test/")


async def _citizen(data_services: DataServices, **changes: object) -> str:
    await data_services.profiles.update("sub-a", {**CHANGES, **changes})
    citizen = await data_services.citizens.get("sub-a")
    assert citizen is not None
    return citizen.ref


async def test_a_notice_goes_to_the_profile_email_in_english_and_chinese_once_per_key(
        notices: NoticeService, data_services: DataServices, mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})
    first = await notices.send(request)
    again = await notices.send(request)
    assert first.outcomes == {"email": "sent"}
    assert again.outcomes == {"email": "duplicate"}
    box = mailbox[0]
    assert box.received == 1
    [mail] = box.mails()
    assert mail["to"] == "kafai.wong@example.com"
    assert mail["subject"] == "We have received TD-2026-000042 / 已收到 TD-2026-000042"
    assert "Your Renew a driving licence application TD-2026-000042: HK$900." in mail["body"]
    assert "你的續領駕駛執照申請 TD-2026-000042。" in mail["body"]
    assert "https://onestop.test/" in mail["body"]


async def test_a_notice_carries_no_identity_number_and_no_answers(
        notices: NoticeService, data_services: DataServices, mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})
    await notices.send(request)
    [mail] = mailbox[0].mails()
    raw = "".join(path.read_text() for path in mailbox[0].directory.glob("*.eml"))
    for personal in ("K305518", "WONG", "黃家輝", "Laguna City", "Cha Kwo Ling", "1988-01-22", "6234 5678"):
        assert personal not in raw, personal
    assert "[withheld]" in mail["body"]


async def test_the_language_and_channel_preferences_choose_the_text_and_the_way(
        notices: NoticeService, data_services: DataServices, mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    ref = await _citizen(data_services)
    await notices.set_preferences("sub-a", language="tc", channels="both")
    result = await notices.send(NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": ref}))
    assert result.outcomes == {"email": "sent", "sms": "sent"}
    [mail] = mailbox[0].mails()
    assert mail["subject"] == "已收到 TD-2026-000042"
    assert "Your" not in mail["body"]
    [sms] = mailbox[0].texts()
    assert sms == {"to": "+85262345678", "text": "已收到 TD-2026-000042", "at": sms["at"]}


async def test_a_citizen_without_an_email_gets_an_sms_and_one_who_opted_out_gets_nothing(
        notices: NoticeService, data_services: DataServices, mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    ref = await _citizen(data_services, email=None)
    assert (await notices.send(NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": ref}))).outcomes == {
        "sms": "sent"}
    await notices.set_preferences("sub-a", language=None, channels="none")
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": ref, "key": "app-1/statusChanged/3"})
    assert (await notices.send(request)).outcomes == {"any": "opted-out"}
    assert mailbox[0].mails() == []


async def test_an_anonymous_applicant_gets_a_notice_only_at_the_contact_they_gave(
        notices: NoticeService, mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    anonymous = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": "anon-abc"})
    assert (await notices.send(anonymous)).outcomes == {"any": "no-contact"}
    given = NoticeRequest(**{**anonymous.__dict__, "contact": {"email": "reporter@example.com"}})
    assert (await notices.send(given)).outcomes == {"email": "sent"}
    assert [mail["to"] for mail in mailbox[0].mails()] == ["reporter@example.com"]


async def test_the_outbox_holds_the_address_and_text_encrypted_and_the_log_neither(
        notices: NoticeService, data_services: DataServices, database: Database,
        caplog: pytest.LogCaptureFixture) -> None:
    ref = await _citizen(data_services)
    with caplog.at_level(logging.DEBUG):
        await notices.send(NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": ref}))
    async with database.session() as session:
        rows = (await session.execute(text("SELECT * FROM notices_sent"))).all()
    assert len(rows) == 1
    dump = repr(rows)
    for clear in ("kafai.wong@example.com", "TD-2026-000042", "received"):
        assert clear not in dump
    assert "kafai.wong" not in caplog.text
    listed = await notices.for_application("app-1", ref)
    assert [(n.event, n.channel, n.status) for n in listed] == [("submitted", "email", "sent")]
    assert await notices.for_application("app-1", "someone-else") == []


async def test_a_send_that_failed_after_claiming_is_sent_again_with_the_same_message_id(
        notices: NoticeService, data_services: DataServices, mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    ref = await _citizen(data_services)
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": ref})
    box, mailer = mailbox
    await box.close()  # the relay is down: the attempt claims the row, then fails
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await notices.send(request)
    await box.start(port=mailer.port)
    assert (await notices.send(request)).outcomes == {"email": "sent"}
    assert len(box.mails()) == 1


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 2 s")


async def test_the_mailer_sends_one_message_after_another_over_one_connection_and_quits_it_on_close(
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    box, mailer = mailbox
    for n in range(3):
        await mailer.send("a@example.com", f"subject {n}", "body", key=f"k{n}")
    assert (box.connections, len(box.mails())) == (1, 3)
    await mailer.aclose()
    await _until(lambda: box.open_connections == 0)
    await mailer.send("a@example.com", "after close", "body", key="k3")
    assert (box.connections, len(box.mails())) == (2, 4)


async def test_a_connection_the_relay_dropped_is_replaced_and_an_outage_still_fails_the_send(
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    box, mailer = mailbox
    await mailer.send("a@example.com", "one", "body", key="k1")
    await box.close()  # the relay restarts: it drops the connection the mailer keeps
    await box.start(port=mailer.port)
    await mailer.send("a@example.com", "two", "body", key="k2")
    assert (box.connections, len(box.mails())) == (2, 2)
    await box.close()  # down: the kept connection is gone and a new one is refused
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await mailer.send("a@example.com", "three", "body", key="k3")


async def test_a_pooled_connection_the_relay_closed_unnoticed_fails_at_once_and_the_message_goes_on_a_new_one(
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    box, mailer = mailbox
    await mailer.send("a@example.com", "one", "body", key="k1")
    for session in list(box._sessions):
        session.transport.close()  # type: ignore[union-attr]
    # No await in between: the mailer has not yet seen the connection close, takes it and fails on it.
    await mailer.send("a@example.com", "two", "body", key="k2")
    assert (box.connections, len(box.mails())) == (2, 2)


async def test_connections_idle_too_long_are_closed_and_at_most_keep_are_kept(tmp_path: Path) -> None:
    box = DevMailbox(tmp_path / "mail")
    host, port = await box.start()
    try:
        idle = SmtpMailer(host, port, sender="no-reply@onestop.test", security=SmtpSecurity.NONE, idle=0)
        await idle.send("a@example.com", "one", "body", key="k1")
        await idle.send("a@example.com", "two", "body", key="k2")
        assert box.connections == 2
        await _until(lambda: box.open_connections == 1)  # the first, idle too long, was closed
        await idle.aclose()
        busy = SmtpMailer(host, port, sender="no-reply@onestop.test", security=SmtpSecurity.NONE, keep=2)
        await asyncio.gather(*(busy.send("a@example.com", f"n{n}", "body", key=f"n{n}") for n in range(6)))
        assert len(busy._pool) == 2
        before = box.connections
        await busy.send("a@example.com", "again", "body", key="again")
        assert box.connections == before
        assert len(box.mails()) == 9
        await busy.aclose()
        await _until(lambda: box.open_connections == 0)
    finally:
        await box.close()


async def test_bad_preferences_are_refused_by_name(notices: NoticeService) -> None:
    with pytest.raises(InvalidInput) as info:
        await notices.set_preferences("sub-a", language="fr", channels="pigeon")
    assert [e.path for e in info.value.errors] == [["language"], ["channels"]]


def test_a_missing_placeholder_value_stays_visible_rather_than_guessed() -> None:
    rendered = render(NoticeRequest(**{**SUBMITTED.__dict__, "values": {}}), "en")
    assert rendered.subject == "We have received TD-2026-000042"
    assert "application TD-2026-000042: {fee}." in rendered.body


async def _sent(notices: NoticeService) -> None:
    """Wait for the sends ``enqueue`` started beside its caller."""
    await notices.aclose()


async def _rows(database: Database) -> list[tuple[str, int]]:
    async with database.session() as session:
        return [tuple(row) for row in (await session.execute(  # type: ignore[misc]
            text("SELECT status, attempts FROM notices_sent ORDER BY key"))).all()]


async def test_the_outbox_writes_each_notice_once_and_sends_it_beside_the_caller(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})
    await notices.enqueue([request])
    await notices.enqueue([request])  # the local activity ran again: the key is in the outbox already
    await _sent(notices)
    assert await _rows(database) == [("sent", 1)]
    [mail] = mailbox[0].mails()
    assert mail["subject"] == "We have received TD-2026-000042 / 已收到 TD-2026-000042"
    assert await notices.sweep() == 0  # nothing left to send


async def test_the_outbox_writes_nothing_for_an_applicant_nobody_can_write_to(
        notices: NoticeService, database: Database) -> None:
    await notices.enqueue([NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": "anon-abc"})])
    await _sent(notices)
    assert await _rows(database) == []


async def test_the_sweep_sends_again_what_a_failed_send_left_after_its_lease_with_the_same_message_id(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})
    box, mailer = mailbox
    await box.close()  # the relay is down: the row is written and claimed, the send fails
    await notices.enqueue([request])
    await _sent(notices)
    assert await _rows(database) == [("sending", 1)]
    assert await notices.sweep() == 0  # within its lease: the sender may still be at it
    await box.start(port=mailer.port)
    clock = notices._now()
    notices._now = lambda: clock + timedelta(seconds=31)  # the lease has passed
    assert await notices.sweep() == 1
    assert await _rows(database) == [("sent", 2)]
    assert len(box.mails()) == 1
    assert await notices.sweep() == 0


async def test_the_sweep_backs_off_and_gives_a_notice_up_after_its_window(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})
    await mailbox[0].close()  # down for good
    await notices.enqueue([request])
    await _sent(notices)
    clock = notices._now()
    notices._now = lambda: clock + timedelta(seconds=31)
    assert await notices.sweep() == 1  # attempt 2, failed again
    assert await notices.sweep() == 0  # the next is due a minute after the first lease, not now
    notices._now = lambda: clock + timedelta(seconds=91)
    assert await notices.sweep() == 1
    assert await _rows(database) == [("sending", 3)]
    notices._now = lambda: clock + timedelta(hours=25)
    await notices.sweep()
    assert await _rows(database) == [("failed", 3)]
    listed = await notices.for_application("app-1", request.citizen_ref)
    assert [n.status for n in listed] == ["failed"]


def _submitted(citizen_ref: str) -> ReferenceRequest:
    """A submit's reference request: its index entry and its receipt notice."""
    at = datetime(2026, 11, 27, tzinfo=UTC)
    return ReferenceRequest(
        "app-1", "TD", 2026, IndexEntry("app-1", citizen_ref, "renew", "TD", Status.SUBMITTED, None, at, at),
        [NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": citizen_ref, "reference_number": None})])


def _activities(database: Database, data_services: DataServices, notices: NoticeService,
                http: DeliveryClient) -> ApplicationActivities:
    return ApplicationActivities(database=database, signer=data_services.signer, prefill_port=_no_prefill,
                                 http=http, cipher=data_services.cipher, notices=notices)


async def test_the_reference_its_index_entry_and_the_receipt_notice_are_written_together(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer], monkeypatch: pytest.MonkeyPatch) -> None:
    citizen_ref = await _citizen(data_services)
    request = _submitted(citizen_ref)
    async with DeliveryClient() as http:
        activities = _activities(database, data_services, notices, http)

        async def unwritable(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the outbox is unavailable")

        monkeypatch.setattr(notices, "write", unwritable)
        with pytest.raises(RuntimeError):
            await activities.allocate_reference(request)
        async with database.session() as session:
            counts = await session.execute(text(
                "SELECT (SELECT count(*) FROM application_references), (SELECT count(*) FROM applications), "
                "(SELECT count(*) FROM notices_sent)"))
            assert tuple(counts.one()) == (0, 0, 0)  # nothing of the three without the others
        monkeypatch.undo()
        reference = await activities.allocate_reference(request)
        assert await activities.allocate_reference(request) == reference  # the local activity ran again
    await _sent(notices)
    (entry,) = (await index.citizen_page(database, citizen_ref, first=10)).entries
    assert entry.reference_number == reference
    assert await _rows(database) == [("sent", 1)]
    [mail] = mailbox[0].mails()
    assert reference in mail["subject"]


async def test_the_receipts_recipient_is_read_before_the_submit_transaction_writes(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer], statements: Callable[[Database], list[str]],
        crossings: Counter[str]) -> None:
    # On SQLite every statement after a transaction's first write holds the database's write lock across a trip
    # through the event loop, with every other citizen's submit waiting: the reads come first, and the last write
    # commits in its own trip.
    citizen_ref = await _citizen(data_services)
    request = _submitted(citizen_ref)
    async with DeliveryClient() as http:
        activities = _activities(database, data_services, notices, http)
        await data_services.citizens.by_ref(citizen_ref)  # known already, as at a submit
        seen = statements(database)
        crossings.clear()
        reference = await activities.allocate_reference(request)
    writes = [n for n, statement in enumerate(seen) if statement.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes, seen
    assert [s for s in seen[writes[0]:] if s.startswith("SELECT")] == [], seen
    assert any(s.startswith("SELECT") for s in seen[:writes[0]]), seen  # the profile and the preferences
    if database.engine.dialect.name == "sqlite":
        assert crossings["_end"] == 0
    await _sent(notices)
    [mail] = mailbox[0].mails()
    assert reference in mail["subject"]  # the receipt is still the one with its number


async def _no_prefill(request: PrefillRequest) -> PrefillResult:
    raise AssertionError("no prefill here")


async def test_a_relay_closing_a_kept_connection_with_421_gets_the_message_on_a_new_one(tmp_path: Path) -> None:
    from aiosmtpd.smtp import SMTP

    class OneMessagePerConnection:
        def __init__(self) -> None:
            self.sessions: dict[int, int] = {}
            self.accepted = 0

        async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                              options: list[str]) -> str:
            seen = self.sessions[id(session)] = self.sessions.get(id(session), 0) + 1
            if seen > 1:
                return "421 one message per connection, please reconnect"
            envelope.mail_from = address
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.accepted += 1
            return "250 accepted"

    handler = OneMessagePerConnection()
    relay = await asyncio.get_running_loop().create_server(lambda: SMTP(handler), "127.0.0.1", 0)
    try:
        mailer = SmtpMailer("127.0.0.1", relay.sockets[0].getsockname()[1],
                            sender="no-reply@onestop.test", security=SmtpSecurity.NONE)
        await mailer.send("a@example.com", "one", "body", key="k1")
        await mailer.send("a@example.com", "two", "body", key="k2")  # 421 on the kept one: sent on a new one
        assert (len(handler.sessions), handler.accepted) == (2, 2)
        await mailer.aclose()
    finally:
        relay.close()
        await relay.wait_closed()


async def test_every_connection_idle_too_long_is_closed_not_only_the_newest(
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    box, mailer = mailbox
    await asyncio.gather(*(mailer.send("a@example.com", f"n{n}", "body", key=f"n{n}") for n in range(3)))
    assert len(mailer._pool) == 3
    # The two below the newest have been idle too long; the newest has just been used.
    mailer._pool = [(client, loop, used - mailer.idle - 1) for client, loop, used in mailer._pool[:2]] + \
        mailer._pool[2:]
    await mailer.send("a@example.com", "later", "body", key="later")
    assert len(mailer._pool) == 1
    await _until(lambda: box.open_connections == 1)
    assert box.connections == 3  # the message went on the newest


async def test_a_long_chinese_subject_arrives_whole_in_short_lines_of_whole_characters(
        mailbox: tuple[DevMailbox, SmtpMailer]) -> None:
    box, mailer = mailbox
    subject = "你的續領駕駛執照申請已經收到，參考編號 TD-2026-000042，請保留此郵件以便日後查詢。" * 2
    body = "你的申請 TD-2026-000042。\n\n" + "續領駕駛執照" * 40
    await mailer.send("a@example.com", subject, body, key="k1")
    [mail] = box.mails()
    assert (mail["subject"], mail["body"]) == (subject, body)
    [raw] = [path.read_bytes() for path in box.directory.glob("*.eml")]
    assert max(len(line) for line in raw.splitlines()) <= 78
    words = re.findall(rb"=\?utf-8\?b\?([A-Za-z0-9+/=]+)\?=", raw.split(b"\r\n\r\n")[0])
    assert len(words) > 2
    for word in words:  # each decodes alone (RFC 2047 §5: whole characters)
        base64.b64decode(word).decode("utf-8")


@pytest.mark.parametrize("sender", ["onestop <no-reply@onestop.test>", "香港政府一站通 <no-reply@onestop.test>"])
@pytest.mark.parametrize("subject", ["=?utf-8?q?Urgent:_pay_now?=", "Received\r\nBcc: everyone@example.com",
                                     "Received\nBcc: everyone@example.com", "TD-2026-000042-" * 14])
async def test_a_subject_that_looks_encoded_or_breaks_its_line_arrives_as_the_text_it_is(
        mailbox: tuple[DevMailbox, SmtpMailer], subject: str, sender: str) -> None:
    # A sender that is not plain ASCII takes the email package's way (``compose``), the other the direct one.
    box, mailer = mailbox
    mailer.sender = sender
    await mailer.send("a@example.com", subject, "body", key="k1")
    [raw] = [path.read_bytes() for path in box.directory.glob("*.eml")]
    headers = raw.split(b"\r\n\r\n")[0]
    assert b"Bcc" not in headers.replace(b"\r\n ", b"")  # no header of its own, in the clear
    [mail] = box.mails()
    assert mail["subject"].replace("\r\n", "\n") == subject.replace("\r\n", "\n")


async def test_a_sender_whose_name_is_not_ascii_still_sends(tmp_path: Path) -> None:
    box = DevMailbox(tmp_path / "mail")
    host, port = await box.start()
    try:
        mailer = SmtpMailer(host, port, sender="香港政府一站通 <no-reply@onestop.test>", security=SmtpSecurity.NONE)
        await mailer.send("a@example.com", "已收到 TD-2026-000042", "你的申請", key="k1")
        [mail] = box.mails()
        assert mail["subject"] == "已收到 TD-2026-000042"
        await mailer.aclose()
    finally:
        await box.close()


async def test_the_receipts_recipient_decrypts_the_address_and_phone_alone(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer], monkeypatch: pytest.MonkeyPatch) -> None:
    citizen_ref = await _citizen(data_services)
    await notices.set_preferences("sub-a", language="en", channels="email")
    opened: list[str] = []
    decrypt = data_services.cipher.decrypt_json

    def counting(stored: str, aad: str) -> Any:
        opened.append(aad.partition("|")[0])
        return decrypt(stored, aad)

    monkeypatch.setattr(data_services.cipher, "decrypt_json", counting)
    async with DeliveryClient() as http:
        reference = await _activities(database, data_services, notices, http).allocate_reference(
            _submitted(citizen_ref))
    assert sorted(n for n in opened if n.startswith("profiles.")) == ["profiles.email", "profiles.phone"]
    await _sent(notices)
    [mail] = mailbox[0].mails()
    assert mail["subject"] == f"We have received {reference}"  # the preference: English alone


async def test_a_preference_without_a_profile_sends_nothing(
        notices: NoticeService, data_services: DataServices, database: Database) -> None:
    await notices.set_preferences("sub-b", language="tc", channels="both")
    citizen = await data_services.citizens.get("sub-b")
    assert citizen is not None
    await notices.enqueue([NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": citizen.ref})])
    await _sent(notices)
    assert await _rows(database) == []


async def test_sends_that_finish_together_are_recorded_sent_together(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer], statements: Callable[[Database], list[str]]) -> None:
    box = mailbox[0]
    citizen_ref = await _citizen(data_services)
    count = 6
    arrived = asyncio.Event()

    async def held(message: Any) -> None:  # the relay answers once every message is in
        if box.received == count:
            arrived.set()
        await arrived.wait()

    box.on_message = held
    seen = statements(database)
    await asyncio.gather(*(notices.enqueue([NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": citizen_ref,
                                                             "key": f"app-1/submitted/{n}"})])
                           for n in range(count)))
    await _sent(notices)
    assert await _rows(database) == [("sent", 1)] * count
    assert len(box.mails()) == count
    recorded = [s for s in seen if s.startswith("UPDATE NOTICES_SENT")]
    assert 1 <= len(recorded) < count, seen


async def test_a_sent_notice_whose_record_failed_is_sent_again_by_the_sweep_as_the_same_message(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    request = NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})

    async def unrecordable(*args: object, **kwargs: object) -> list[Any]:
        raise ConnectionError("the database is away")

    monkeypatch.setattr(notice_service, "write_alone", unrecordable)
    with caplog.at_level(logging.WARNING):
        await notices.enqueue([request])
        await _sent(notices)
    assert await _rows(database) == [("sending", 1)]
    assert "not recorded as sent" in caplog.text
    assert "kafai.wong" not in caplog.text
    monkeypatch.undo()
    clock = notices._now()
    notices._now = lambda: clock + timedelta(seconds=31)
    assert await notices.sweep() == 1
    assert await _rows(database) == [("sent", 2)]
    assert (mailbox[0].received, len(mailbox[0].mails())) == (2, 1)  # one Message-ID: one message


async def test_a_sweep_that_finds_nothing_due_reads_once_and_writes_nothing(
        notices: NoticeService, data_services: DataServices, database: Database,
        mailbox: tuple[DevMailbox, SmtpMailer], statements: Callable[[Database], list[str]]) -> None:
    await notices.enqueue([NoticeRequest(**{**SUBMITTED.__dict__, "citizen_ref": await _citizen(data_services)})])
    await _sent(notices)
    seen = statements(database)
    assert await notices.sweep() == 0
    assert [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))] == [
        "SELECT NOTICES_SENT.ID, NOTICES_SENT.ATTEMPTS,"], seen


def test_an_outbox_row_as_written_has_every_column_of_the_outbox_table() -> None:
    # ``write`` inserts ``vars`` of it: a column missing here would be missing from the insert.
    assert [f.name for f in fields(OutboxRow)] == [column.key for column in NoticeRow.__table__.columns]
