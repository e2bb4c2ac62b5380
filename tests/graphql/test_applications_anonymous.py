"""An anonymous citizen uses a `login: none` service: the resume token is the only key to the draft.

Real pieces: the seed catalogue, a real Temporal dev server with the encrypting codec, a worker with the engine's
activities, the Starlette app over HTTP (httpx + ASGI), the dev IdP's tokens for staff and logged-in citizens.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD, Api
from pydantic import SecretStr
from running import running_seed
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.config import Environment, Settings
from onestop.engine.applications.service import ApplicationService
from onestop.engine.container import Engine, build_engine
from onestop.engine.crypto.codec import data_converter
from onestop.engine.errors import InvalidInput
from onestop.graphql.app import create_app
from onestop.graphql.relay import from_global_id
from onestop.workflows.interpreter import Applicant

FRAGMENT = """
fragment A on Application {
  id status referenceNumber answers
  currentStep { id type fields { id type options { value } } }
  timeline { status message author }
}
"""
START = FRAGMENT + """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { ...A } resumeToken userErrors { field message code } } }"""
SUBMIT = FRAGMENT + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
GO_BACK = FRAGMENT + """mutation($id: ID!, $step: String!) {
  goBack(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
STEP_UP = """mutation($id: ID!, $step: String!) {
  completeStepUp(input: {applicationId: $id, stepId: $step}) { application { id } userErrors { code } } }"""
WITHDRAW = FRAGMENT + """mutation($id: ID!) {
  withdrawApplication(input: {applicationId: $id}) { application { ...A } userErrors { field code } } }"""
GET = FRAGMENT + "query($id: ID!) { application(id: $id) { ...A } }"
VIEWER = "{ viewer { applications(first: 10) { totalCount } } }"
INBOX = "{ departmentInbox(first: 50) { edges { node { id status referenceNumber } } } }"
DECIDE = """mutation($id: ID!, $status: ApplicationStatus!, $message: String) {
  updateApplicationStatus(input: {applicationId: $id, status: $status, message: $message}) {
    application { status } userErrors { field code message } } }"""

ENQUIRY = "facility-availability-enquiry"
LOGIN_SERVICE = "renew-driving-licence"



running, engine, api = running_seed("anon-data", isolated=True)


def resume(token: str) -> dict[str, str]:
    return {"X-Resume-Token": token}


def code_of(result: dict[str, Any]) -> str:
    return str(result["errors"][0]["extensions"]["code"])


def enquiry_answers(application: dict[str, Any]) -> dict[str, Any]:
    fields = {f["id"]: f for f in application["currentStep"]["fields"]}
    tomorrow = date.fromordinal(date.today().toordinal() + 2).isoformat()
    return {"facilityTypes": [fields["facilityTypes"]["options"][0]["value"]],
            "districts": [fields["districts"]["options"][0]["value"]],
            "date": tomorrow, "replyEmail": "someone@example.org"}


async def start_anonymous(api: Api) -> tuple[dict[str, Any], str]:
    payload = (await api.data(START, {"slug": ENQUIRY}))["startApplication"]
    assert payload["userErrors"] == []
    token = payload["resumeToken"]
    assert isinstance(token, str)
    assert len(token) >= 40
    return payload["application"], token


async def test_an_anonymous_citizen_completes_a_service_and_sees_the_decision(api: Api) -> None:
    started, token = await start_anonymous(api)
    assert started["status"] == "DRAFT"
    assert started["currentStep"]["id"] == "enquiry"
    app_id = started["id"]

    # Another device: only the token, no login.
    resumed = (await api.data(GET, {"id": app_id}, resume(token)))["application"]
    assert resumed["id"] == app_id
    assert resumed["currentStep"]["id"] == "enquiry"

    answers = enquiry_answers(resumed)
    moved = (await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": answers}, resume(token))
             )["submitStep"]
    assert moved["userErrors"] == []
    assert moved["application"]["currentStep"]["id"] == "send"
    back = (await api.data(GO_BACK, {"id": app_id, "step": "enquiry"}, resume(token)))["goBack"]
    assert back["application"]["currentStep"]["id"] == "enquiry"
    answers["replyEmail"] = "other@example.org"
    await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": answers}, resume(token))
    sent = (await api.data(SUBMIT, {"id": app_id, "step": "send", "answers": {}}, resume(token)))["submitStep"]
    assert sent["userErrors"] == []
    assert sent["application"]["status"] == "SUBMITTED"
    assert sent["application"]["referenceNumber"].startswith("LCSD-")
    assert sent["application"]["answers"]["replyEmail"] == "other@example.org"

    officer = await api.token({"staff": "lcsd-officer"})
    for _ in range(50):  # the inbox is written by the delivery activity just after the submit update returns
        inbox = (await api.data(INBOX, headers=officer))["departmentInbox"]["edges"]
        if app_id in [e["node"]["id"] for e in inbox]:
            break
        await asyncio.sleep(0.1)
    assert app_id in [e["node"]["id"] for e in inbox]
    supervisor = await api.token({"staff": "lcsd-supervisor"})
    decided = (await api.data(DECIDE, {"id": app_id, "status": "APPROVED", "message": "Court 3 is free"},
                              supervisor))["updateApplicationStatus"]
    assert decided["userErrors"] == []

    seen = (await api.data(GET, {"id": app_id}, resume(token)))["application"]
    assert seen["status"] == "APPROVED"
    assert seen["timeline"][-1] == {"status": "APPROVED", "message": "Court 3 is free", "author": "DEPARTMENT"}


async def test_a_wrong_token_finds_nothing_and_no_token_is_unauthenticated(api: Api) -> None:
    started, token = await start_anonymous(api)
    app_id = started["id"]
    _, other_token = await start_anonymous(api)

    for wrong in (other_token, token[:-1], "x"):
        assert (await api.data(GET, {"id": app_id}, resume(wrong)))["application"] is None
        refused = (await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": {}}, resume(wrong))
                   )["submitStep"]
        assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
        withdrawn = (await api.data(WITHDRAW, {"id": app_id}, resume(wrong)))["withdrawApplication"]
        assert [e["code"] for e in withdrawn["userErrors"]] == ["NOT_FOUND"]

    for headers in ({}, resume("  ")):
        assert code_of(await api.post(GET, {"id": app_id}, headers)) == "UNAUTHENTICATED"
        assert code_of(await api.post(WITHDRAW, {"id": app_id}, headers)) == "UNAUTHENTICATED"

    # A logged-in citizen does not own it either; the right token still withdraws it.
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    assert (await api.data(GET, {"id": app_id}, citizen))["application"] is None
    withdrawn = (await api.data(WITHDRAW, {"id": app_id}, resume(token)))["withdrawApplication"]
    assert withdrawn["application"]["status"] == "WITHDRAWN"


async def test_a_resume_token_grants_nothing_beyond_its_own_applications(api: Api) -> None:
    _, token = await start_anonymous(api)

    # No login-required start, no viewer, no step-up.
    assert code_of(await api.post(START, {"slug": LOGIN_SERVICE}, resume(token))) == "UNAUTHENTICATED"
    assert code_of(await api.post(START, {"slug": LOGIN_SERVICE})) == "UNAUTHENTICATED"
    assert code_of(await api.post(VIEWER, headers=resume(token))) == "UNAUTHENTICATED"

    # A logged-in citizen's application stays invisible to any resume token.
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    theirs = (await api.data(START, {"slug": LOGIN_SERVICE}, citizen))["startApplication"]
    assert theirs["resumeToken"] is None
    their_id = theirs["application"]["id"]
    assert (await api.data(GET, {"id": their_id}, resume(token)))["application"] is None
    moved = (await api.data(GO_BACK, {"id": their_id, "step": "your-details"}, resume(token)))["goBack"]
    assert [e["code"] for e in moved["userErrors"]] == ["NOT_FOUND"]
    assert code_of(await api.post(STEP_UP, {"id": their_id, "step": "verify-face"}, resume(token))) \
        == "UNAUTHENTICATED"


async def test_the_resume_token_never_reaches_temporal_or_the_logs(
        api: Api, engine: Engine, temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    started, token = await start_anonymous(api)
    app_id = started["id"]
    answers = enquiry_answers(started)
    await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": answers}, resume(token))
    sent = (await api.data(SUBMIT, {"id": app_id, "step": "send", "answers": {}}, resume(token)))["submitStep"]
    assert sent["application"]["status"] == "SUBMITTED"

    parsed = from_global_id(app_id)
    assert parsed is not None
    # The raw history as the server stores it (no codec): ids, search attributes, metadata and payloads.
    history = await temporal_env.client.get_workflow_handle(parsed[1]).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert raw  # the history is there to search
    assert token.encode() not in raw
    assert not any(token in record.getMessage() for record in caplog.records)
    assert token not in caplog.text


async def test_an_age_checked_service_asks_an_anonymous_applicant_to_log_in(engine: Engine) -> None:
    service = engine.applications
    assert isinstance(service, ApplicationService)
    snapshot = service.snapshots(ENQUIRY)
    assert snapshot is not None
    aged = dataclasses.replace(snapshot, eligibility_when="citizen.age >= 18")
    checking = ApplicationService(service.client, service.task_queue, service.database, lambda slug: aged)
    with pytest.raises(InvalidInput) as refused:
        await checking.start("anon-test", Applicant(logged_in=False), ENQUIRY)
    assert [(e.path, e.code) for e in refused.value.errors] == [(["serviceSlug"], "LOGIN_REQUIRED")]
    assert "log in" in refused.value.errors[0].message["en"]


def _key_text(key: bytes) -> SecretStr:
    return SecretStr(base64.urlsafe_b64encode(key).decode().rstrip("="))


async def test_a_resume_token_still_resumes_after_the_data_key_is_rotated(
        api: Api, engine: Engine, temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    started, token = await start_anonymous(api)
    old = engine.settings
    # The same database: an unanswered draft lives there, not in Temporal.
    rotated = Settings(env=Environment.DEVELOPMENT, definitions=old.definitions, data_dir=tmp_path,
                       database_url=old.resolved_database_url, temporal_task_queue=old.temporal_task_queue,
                       codec_key=_key_text(old.key_bytes("codec_key")),
                       data_key=_key_text(secrets.token_bytes(32)),
                       data_key_previous=_key_text(old.key_bytes("data_key")))
    config = temporal_env.client.config()
    config["data_converter"] = data_converter(rotated.key_bytes("codec_key"))
    built = await build_engine(rotated, Client(**config))
    try:
        after = Api.isolated(create_app(built.settings, built), built)
        seen = (await after.data(GET, {"id": started["id"]}, resume(token)))["application"]
        assert seen is not None
        assert seen["id"] == started["id"]
        moved = (await after.data(SUBMIT, {"id": started["id"], "step": "enquiry",
                                           "answers": enquiry_answers(started)}, resume(token)))["submitStep"]
        assert moved["userErrors"] == []
        assert moved["application"]["currentStep"]["id"] == "send"
        _, fresh = await start_anonymous(after)  # new applications are keyed under the new data key
        assert (await after.data(GET, {"id": started["id"]}, resume(fresh)))["application"] is None
    finally:
        await built.close()


def _from(engine: Engine, ip: str, **settings: Any) -> Api:
    app = create_app(engine.settings.model_copy(update=settings), engine)
    return Api(connect=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 4000)),
                                                 base_url="http://onestop.test"))


async def _start_codes(api: Api, times: int) -> list[str | None]:
    codes = []
    for _ in range(times):
        answer = await api.post(START, {"slug": ENQUIRY})
        codes.append(answer["errors"][0]["extensions"]["code"] if answer.get("errors") else None)
    return codes


async def test_anonymous_starts_are_budgeted_per_client_ip(engine: Engine) -> None:
    budget = {"anonymous_starts_per_hour_per_ip": 2}
    flooding = _from(engine, "203.0.113.50", **budget)
    assert await _start_codes(flooding, 4) == [None, None, "RATE_LIMITED", "RATE_LIMITED"]
    assert await _start_codes(_from(engine, "203.0.113.51", **budget), 1) == [None]


async def test_anonymous_starts_are_budgeted_per_service(engine: Engine) -> None:
    app = create_app(engine.settings.model_copy(update={"anonymous_starts_per_hour_per_service": 2}), engine)
    codes = []
    for i in range(3):  # three different addresses, one service
        api = Api(connect=lambda i=i: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"198.51.100.{i}", 4000)), base_url="http://onestop.test"))
        codes += await _start_codes(api, 1)
    assert codes == [None, None, "RATE_LIMITED"]


async def test_a_signed_in_start_does_not_spend_the_anonymous_budget(engine: Engine) -> None:
    api = _from(engine, "203.0.113.60", anonymous_starts_per_hour_per_ip=1)
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    for _ in range(2):
        started = (await api.data(START, {"slug": ENQUIRY}, citizen))["startApplication"]
        assert started["userErrors"] == []
    assert await _start_codes(api, 2) == [None, "RATE_LIMITED"]
