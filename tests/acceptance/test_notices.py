"""Issue 12, notices, through GraphQL against real Temporal and a real database: the citizen gets one email per
event at the e-ME profile's address, in the development mailbox at /dev-mail/; the text names the service and the
reference, never an answer or an identity number; an anonymous reporter is written to at the address they gave."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from .answers import EMAIL, HKID, PHONE, TEXT, Run, advance
from .conftest import APPLICATION, DECIDE, System
from .test_every_service import _complete

pytestmark = pytest.mark.slow

FIXTURE_EMAILS = {citizen["id"]: citizen["profile"]["email"] for citizen in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "definitions" / "dev" / "citizens.yaml").read_text())["citizens"]}

START_ANONYMOUS = APPLICATION + """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { ...A } resumeToken userErrors { field message code } } }"""


async def mails_for(system: System, reference: str, count: int, within: float = 30) -> list[dict[str, str]]:
    mailbox = system.engine.dev_mailbox
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [mail for mail in mailbox.mails() if reference in mail["subject"]]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


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
