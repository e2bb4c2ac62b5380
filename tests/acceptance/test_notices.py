"""Issue 12, notices, through GraphQL against real Temporal and a real database: the citizen gets one email per
event at the e-ME profile's address, in the development mailbox at /dev-mail/; the text names the service and the
reference, never an answer or an identity number; an anonymous reporter is written to at the address they gave."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from client import STANDARD

from .answers import EMAIL, HKID, PHONE, TEXT, Run, advance, drive
from .conftest import APPLICATION, DECIDE, System
from .test_every_service import _complete

pytestmark = pytest.mark.slow

FIXTURE_EMAILS = {citizen["id"]: citizen["profile"]["email"] for citizen in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "definitions" / "dev" / "citizens.yaml").read_text())["citizens"]}

NOTICES = "query($id: ID!) { application(id: $id) { notices { event channel status subject sentAt } } }"
PREFERENCES = """mutation($language: NoticeLanguage, $channels: NoticeChannels) {
  setNoticePreferences(input: {language: $language, channels: $channels}) {
    preferences { language channels } userErrors { field message code } } }"""
START_ANONYMOUS = APPLICATION + """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { ...A } resumeToken userErrors { field message code } } }"""


async def _waited(found: Callable[[], list[dict[str, str]]], count: int, within: float) -> list[dict[str, str]]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        now = found()
        if len(now) >= count or asyncio.get_running_loop().time() > deadline:
            return now
        await asyncio.sleep(0.2)


async def mails_for(system: System, reference: str, count: int, within: float = 30) -> list[dict[str, str]]:
    mailbox = system.engine.dev_mailbox
    return await _waited(lambda: [mail for mail in mailbox.mails() if reference in mail["subject"]], count, within)


async def texts_for(system: System, reference: str, within: float = 30) -> list[dict[str, str]]:
    """The SMS texts naming ``reference``: sent after the email of the same notice, so waited for like it."""
    mailbox = system.engine.dev_mailbox
    return await _waited(lambda: [text for text in mailbox.texts() if reference in text["text"]], 1, within)


def assert_no_personal_data(mails: list[dict[str, Any]], *more: str) -> None:
    text = repr(mails)
    for personal in (HKID, HKID[:7], PHONE, TEXT, *more):
        assert personal not in text, personal


async def test_a_citizen_gets_one_email_per_event_without_answers(system: System) -> None:
    api = system.api
    citizen, run, _ = await _complete(system, "old-age-living-allowance")
    app, reference = run.application["id"], run.application["referenceNumber"]
    [receipt] = await mails_for(system, reference, 1)
    assert receipt["subject"].startswith(f"Old Age Living Allowance: application {reference} received / ")
    assert "HK$10,770" in receipt["body"] or "HK$17,490" in receipt["body"]  # the computed income limit
    assert receipt["to"] == FIXTURE_EMAILS[citizen]  # the e-ME profile's address

    officer = await api.token({"staff": "swd-officer"})
    asked = (await api.data(DECIDE, {"id": app, "status": "NEEDS_INFO", "message": f"Send the card {HKID}"},
                            officer))["updateApplicationStatus"]
    assert asked["userErrors"] == []
    await mails_for(system, reference, 2)
    approver = await api.token({"staff": "swd-supervisor"})
    decided = (await api.data(DECIDE, {"id": app, "status": "APPROVED"}, approver))["updateApplicationStatus"]
    assert decided["userErrors"] == []
    mails = await mails_for(system, reference, 3)
    await asyncio.sleep(1)  # nothing more arrives: one email per event
    mails = await mails_for(system, reference, 3)
    subjects = [mail["subject"].split(" / ")[0] for mail in mails]
    assert subjects == [f"Old Age Living Allowance: application {reference} received",
                        f"More information needed for application {reference}",
                        f"Old Age Living Allowance {reference}: approved"]
    assert_no_personal_data(mails)
    owner = await api.token({"citizen": citizen, "acr": STANDARD})
    listed = (await api.data(NOTICES, {"id": app}, owner))["application"]["notices"]
    assert [(n["event"], n["channel"], n["status"]) for n in listed] == [
        ("SUBMITTED", "email", "sent"), ("INFORMATION_NEEDED", "email", "sent"), ("STATUS_CHANGED", "email", "sent")]
    assert listed[0]["subject"].split() == mails[0]["subject"].split()
    staff_view = (await api.data(NOTICES, {"id": app}, approver))["application"]
    assert staff_view is None or staff_view["notices"] == []  # the list is the applicant's alone
    page = await api.client.get("/dev-mail/")
    assert page.status_code == 200
    assert f"More information needed for application {reference}" in page.text


async def test_an_anonymous_reporter_is_written_to_only_at_the_address_they_gave(system: System) -> None:
    api = system.api
    payload = (await api.data(START_ANONYMOUS, {"slug": "report-environmental-nuisance"}))["startApplication"]
    headers = {"X-Resume-Token": payload["resumeToken"]}
    run = await advance(api, Run(payload["application"]), "", datetime.now(UTC).date(), headers=headers)
    reference = run.application["referenceNumber"]
    assert run.application["status"] == "SUBMITTED", run.application
    [receipt] = await mails_for(system, reference, 1)
    assert receipt["to"] == EMAIL
    assert receipt["subject"].startswith(f"Your pollution report {reference} has been received")
    assert_no_personal_data([receipt])


async def test_a_citizen_who_chose_chinese_and_both_channels_gets_a_chinese_email_and_sms(system: System) -> None:
    api = system.api
    citizen = "cheung-kwok-wing"
    headers = await api.token({"citizen": citizen, "acr": STANDARD})
    chosen = (await api.data(PREFERENCES, {"language": "TC", "channels": "BOTH"}, headers))["setNoticePreferences"]
    assert chosen == {"preferences": {"language": "TC", "channels": "BOTH"}, "userErrors": []}
    assert (await api.data("{ noticePreferences { language channels } }", None, headers))[
        "noticePreferences"] == {"language": "TC", "channels": "BOTH"}
    run = await drive(api, "senior-citizen-card", citizen, datetime.now(UTC).date(), start_headers=headers)
    reference = run.application["referenceNumber"]
    assert reference, run.application
    [receipt] = await mails_for(system, reference, 1)
    assert receipt["subject"] == f"我們已收到你的申請 {reference}"
    assert "Your application" not in receipt["body"]
    texts = await texts_for(system, reference)
    assert len(texts) == 1
    assert texts[0]["text"].startswith("已收到你的")
