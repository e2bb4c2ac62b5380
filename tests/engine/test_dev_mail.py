"""The development mail sink (engine/dev/mail.py) over real SMTP: a mailbox without a directory keeps what it
receives in memory, as the applications benchmark's simulated relay does, deduplicated by Message-ID like the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.config import SmtpSecurity
from onestop.engine.dev.mail import DevMailbox
from onestop.engine.notices.channels import SmtpMailer


@pytest.mark.parametrize("on_disk", [True, False], ids=["files", "memory"])
async def test_the_sink_stores_each_message_once_by_message_id_in_files_or_in_memory(
        tmp_path: Path, on_disk: bool) -> None:
    box = DevMailbox(tmp_path / "mail" if on_disk else None)
    host, port = await box.start()
    try:
        mailer = SmtpMailer(host, port, sender="no-reply@onestop.test", security=SmtpSecurity.NONE)
        await mailer.send("a@example.com", "first", "one", key="k1")
        await mailer.send("b@example.com", "second", "two", key="k2")
        await mailer.send("a@example.com", "first again", "one", key="k1")  # a resend: the same Message-ID
        await box.send("+85291234567", "a text", key="s1")
        await box.send("+85291234567", "the text again", key="s1")
        await mailer.aclose()
    finally:
        await box.close()
    assert box.received == 3
    assert [(m["to"], m["subject"], m["body"].strip()) for m in box.mails()] == [
        ("a@example.com", "first", "one"), ("b@example.com", "second", "two")]
    assert [(t["to"], t["text"]) for t in box.texts()] == [("+85291234567", "a text")]
    written = sorted(path.name.split("-")[0] for path in (tmp_path / "mail").glob("*")) if on_disk else []
    assert written == (["mail", "mail", "sms"] if on_disk else [])
    assert not (tmp_path / "mail").exists() or on_disk  # in memory, nothing is written anywhere


async def test_a_connection_costs_the_sink_no_lookup_of_its_web_page(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # aiosmtpd reads every member of its handler for each connection; the mailbox's ``app`` (its web page, built
    # anew on each read) is not among them: the sink hands aiosmtpd its DATA hook alone.
    built: list[int] = []
    page = DevMailbox.app.fget  # type: ignore[attr-defined]
    monkeypatch.setattr(DevMailbox, "app", property(lambda self: built.append(1) or page(self)))
    box = DevMailbox(None)
    host, port = await box.start()
    try:
        for n in range(3):  # a connection each
            mailer = SmtpMailer(host, port, sender="no-reply@onestop.test", security=SmtpSecurity.NONE)
            await mailer.send("a@example.com", f"n{n}", "body", key=f"n{n}")
            await mailer.aclose()
    finally:
        await box.close()
    assert (box.connections, box.received, built) == (3, 3, [])
