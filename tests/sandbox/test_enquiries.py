"""Technical support for the sandbox programme is a `login: none` service: an enquiry lands in the platform team's
inbox only; each reply of the team goes on the enquiry's timeline, and a notice goes to the address the enquirer
gave, naming the enquiry but never carrying the reply or the question."""

from __future__ import annotations

import asyncio
from typing import Any

from client import Api

from .conftest import inbox_ids

SLUG = "sandbox-technical-support"
APPLICATION = """fragment A on Application { id status referenceNumber department currentStep { id }
  timeline { status message author } }
"""
START = APPLICATION + """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { ...A } resumeToken userErrors { field code message } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field code message } } }"""
GET = APPLICATION + "query($id: ID!) { application(id: $id) { ...A } }"
REPLY = """mutation($id: ID!, $status: ApplicationStatus!, $message: String) {
  updateApplicationStatus(input: {applicationId: $id, status: $status, message: $message}) {
    application { id status } userErrors { field code message } } }"""
RESPOND = """mutation($id: ID!, $message: String!) {
  respondToRequest(input: {applicationId: $id, message: $message}) {
    application { id status } userErrors { field code message } } }"""
EMAIL = "dev-team@provider.example.com"
QUESTION = "Our upload says UNKNOWN_DEPARTMENT at services/permit.yaml:3:1 — what should it be?"
FIRST_REPLY = "Write department: SBX0123ABCD, your sandbox's namespace, and upload again."
SECOND_REPLY = "Thanks: the namespace is on mySandbox; closing this enquiry."


async def _mails(api: Api, reference: str, count: int, within: float = 30) -> list[dict[str, str]]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [m for m in api.engine.dev_mailbox.mails() if reference in m["subject"]]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _enquire(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    started = (await api.data(START, {"slug": SLUG}))["startApplication"]
    assert started["userErrors"] == [], started
    token = {"X-Resume-Token": started["resumeToken"]}
    app = started["application"]
    answers = {"organisationName": "Queue Alpha Ltd", "topic": "definitions", "subject": "Upload refused",
               "message": QUESTION, "replyEmail": EMAIL}
    for step, given in (("enquiry", answers), ("send", {})):
        payload = (await api.data(SUBMIT, {"id": app["id"], "step": step, "answers": given}, token))["submitStep"]
        assert payload["userErrors"] == [], payload
        app = payload["application"]
    assert app["status"] == "SUBMITTED"
    assert app["department"] == "PLATFORM"
    return app, token



async def test_an_enquiry_needs_no_login_and_reaches_the_platform_team_only(api: Api) -> None:
    app, _ = await _enquire(api)
    assert app["id"] in await inbox_ids(api, "platform-officer")
    assert app["id"] not in await inbox_ids(api, "td-officer")
    [receipt] = await _mails(api, app["referenceNumber"], 1)
    assert receipt["to"] == EMAIL
    assert receipt["subject"].startswith(f"Sandbox technical support: enquiry {app['referenceNumber']} received")


async def test_the_platform_teams_replies_land_on_the_timeline_with_a_notice_each(api: Api) -> None:
    app, token = await _enquire(api)
    reference = app["referenceNumber"]
    officer = await api.token({"staff": "platform-officer"})
    replied = (await api.data(REPLY, {"id": app["id"], "status": "IN_REVIEW", "message": FIRST_REPLY}, officer)
               )["updateApplicationStatus"]
    assert replied["userErrors"] == [], replied
    timeline = (await api.data(GET, {"id": app["id"]}, token))["application"]["timeline"]
    assert (timeline[-1]["status"], timeline[-1]["message"], timeline[-1]["author"]) == (
        "IN_REVIEW", FIRST_REPLY, "DEPARTMENT")
    mails = await _mails(api, reference, 2)
    assert [m["subject"].split(" / ")[0] for m in mails] == [
        f"Sandbox technical support: enquiry {reference} received",
        f"Sandbox technical support: the platform team replied to {reference}"]
    # The team asks, the enquirer answers on the timeline, and the team's closing reply is one more notice.
    asked = (await api.data(REPLY, {"id": app["id"], "status": "NEEDS_INFO", "message": "Which namespace?"},
                            officer))["updateApplicationStatus"]
    assert asked["userErrors"] == [], asked
    answered = (await api.data(RESPOND, {"id": app["id"], "message": "SBX0123ABCD"}, token)
                )["respondToRequest"]
    assert answered["userErrors"] == [], answered
    closed = (await api.data(REPLY, {"id": app["id"], "status": "APPROVED", "message": SECOND_REPLY},
                             await api.token({"staff": "platform-officer"})))["updateApplicationStatus"]
    assert closed["userErrors"] == [], closed
    seen = (await api.data(GET, {"id": app["id"]}, token))["application"]
    assert [t["message"] for t in seen["timeline"] if t["author"] == "DEPARTMENT"] == [
        FIRST_REPLY, "Which namespace?", SECOND_REPLY]
    assert "SBX0123ABCD" in [t["message"] for t in seen["timeline"] if t["author"] == "CITIZEN"]
    mails = await _mails(api, reference, 4)
    assert len(mails) == 4
    assert mails[2]["subject"].startswith(f"Sandbox technical support: the platform team asks about {reference}")
    assert all(m["to"] == EMAIL for m in mails)
    # A notice names the enquiry; the question and the replies are read on the timeline only.
    for text in (QUESTION, FIRST_REPLY, SECOND_REPLY, "Which namespace?"):
        assert text not in repr(mails)
