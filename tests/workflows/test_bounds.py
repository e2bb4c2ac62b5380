"""No input from a citizen or an officer can push an application past Temporal's payload or history limits."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from onestop.engine.applications.service import ApplicationService
from onestop.engine.db import Database
from onestop.engine.errors import InvalidInput
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.workflows.contracts import (
    MESSAGE_MAX_CHARS,
    SIGNAL_DEPARTMENT_STATUS,
    TIMELINE_MAX_ENTRIES,
    ApplicationView,
    DepartmentStatus,
    Status,
)
from onestop.workflows.interpreter import GROUP_MAX_ENTRIES, MAX_ERRORS, Applicant
from onestop.workflows.snapshot import FieldSpec, FormSpec, ServiceSnapshot, SubmitSpec

from .conftest import answers_applicant, licence_service, text

LADDER = AssuranceLadder.of([("basic", "urn:onestop:acr:basic"), ("standard", "urn:onestop:acr:standard"),
                             ("face", "urn:onestop:acr:face")])
ADULT = Applicant(age=40, age_group="adult", assurance="standard")
CASEWORKER = Principal(sub="td-1", kind="staff", acr="urn:onestop:acr:standard", amr=("pwd",),
                       auth_time=datetime.now(UTC), department="TD", roles=("caseworker",))


def open_form() -> ServiceSnapshot:
    """A service whose one form has a group without maxItems, a free text, and a field called ``message``."""
    return ServiceSnapshot(
        id="open-form", version=1, content_hash="hash-open", department="TD", title=text("Open form"),
        steps=[
            FormSpec(id="about", title=text("About"), fields=[
                FieldSpec(id="message", type="text", label=text("Message"), required=True),
                FieldSpec(id="notes", type="text", label=text("Notes"), multiline=True),
                FieldSpec(id="people", type="group", label=text("People"), fields=[
                    FieldSpec(id="name", type="text", label=text("Name"), required=True),
                ]),
                FieldSpec(id="amount", type="number", label=text("Amount")),
            ]),
            SubmitSpec(id="send", title=text("Send")),
        ],
    )


@pytest.fixture
def apps(client: Client, task_queue: str, database: Database, worker: Worker) -> ApplicationService:
    catalogue = {"renew-licence": licence_service(), "open-form": open_form()}
    return ApplicationService(client, task_queue, database, catalogue.get, LADDER)


async def refusal(call: object) -> list[tuple[list[str], str]]:
    with pytest.raises(InvalidInput) as info:
        await call  # type: ignore[misc]
    return [(e.path, e.code) for e in info.value.errors]


async def started(apps: ApplicationService) -> ApplicationView:
    return await apps.start("citizen-1", ADULT, "open-form", uuid.uuid4().hex)


async def test_ten_thousand_empty_entries_are_one_quick_error(apps: ApplicationService) -> None:
    view = await started(apps)
    began = time.monotonic()
    errors = await refusal(apps.submit_step(view.application_id, "citizen-1", "about",
                                            {"message": "hi", "people": [{}] * 10_000}))
    assert errors == [(["answers", "people"], "TOO_MANY")]
    assert time.monotonic() - began < 10
    assert (await apps.get(view.application_id, "citizen-1")).current_step_id == "about"


async def test_the_error_list_is_capped(apps: ApplicationService) -> None:
    view = await started(apps)
    errors = await refusal(apps.submit_step(view.application_id, "citizen-1", "about",
                                            {"message": "hi", "people": [{}] * GROUP_MAX_ENTRIES}))
    assert len(errors) == MAX_ERRORS + 1
    assert errors[-1] == ([], "TOO_MANY_ERRORS")


@pytest.mark.parametrize(("answers", "expected"), [
    ({"message": "x" * 501}, (["answers", "message"], "TOO_LONG")),
    ({"message": "hi", "notes": "x" * 5_001}, (["answers", "notes"], "TOO_LONG")),
    ({"message": "hi", "amount": 2**60}, (["answers", "amount"], "NUMBER_OUT_OF_RANGE")),
    ({"message": ""}, (["answers", "message"], "REQUIRED")),
])
async def test_answers_have_default_bounds_and_live_under_answers(apps: ApplicationService, answers: dict[str, object],
                                                                  expected: tuple[list[str], str]) -> None:
    """A field called ``message`` reports its error under ``answers``, never where the action's own inputs are."""
    view = await started(apps)
    assert await refusal(apps.submit_step(view.application_id, "citizen-1", "about", answers)) == [expected]


async def test_long_text_within_the_bounds_is_kept(apps: ApplicationService) -> None:
    view = await started(apps)
    moved = await apps.submit_step(view.application_id, "citizen-1", "about",
                                   {"message": "m" * 500, "notes": "n" * 5_000})
    assert moved.answers["notes"] == "n" * 5_000


async def test_a_long_client_mutation_id_is_refused(apps: ApplicationService) -> None:
    errors = await refusal(apps.start("citizen-1", ADULT, "open-form", "c" * 101))
    assert errors == [(["clientMutationId"], "TOO_LONG")]


async def submitted(apps: ApplicationService) -> str:
    view = await started(apps)
    app = view.application_id
    await apps.submit_step(app, "citizen-1", "about", {"message": "hello"})
    await apps.submit_step(app, "citizen-1", "send", {})
    return app


async def test_a_huge_status_message_is_refused_and_the_application_keeps_answering(
        apps: ApplicationService) -> None:
    app = await submitted(apps)
    for _ in range(9):
        errors = await refusal(apps.update_status(CASEWORKER, app, "NEEDS_INFO", "x" * 240_000))
        assert errors == [(["message"], "TOO_LONG")]
    view = await apps.get(app, "citizen-1")
    assert view.status is Status.SUBMITTED
    assert (await apps.withdraw(app, "citizen-1")).status is Status.WITHDRAWN


async def test_signals_sent_past_the_engine_cannot_grow_the_application(apps: ApplicationService,
                                                                         client: Client) -> None:
    app = await submitted(apps)
    handle = client.get_workflow_handle(app)
    await handle.signal(SIGNAL_DEPARTMENT_STATUS, DepartmentStatus(Status.IN_REVIEW, "y" * (MESSAGE_MAX_CHARS + 1)))
    for i in range(TIMELINE_MAX_ENTRIES + 5):
        status = Status.IN_REVIEW if i % 2 else Status.NEEDS_INFO
        await handle.signal(SIGNAL_DEPARTMENT_STATUS, DepartmentStatus(status, "please"))
    view = await apps.get(app, "citizen-1")
    assert len(view.timeline) == TIMELINE_MAX_ENTRIES
    assert all(len(entry.message or "") <= MESSAGE_MAX_CHARS for entry in view.timeline)
    errors = await refusal(apps.update_status(CASEWORKER, app, "IN_REVIEW", "once more"))
    assert errors == [(["status"], "APPLICATION_FULL")]


async def test_a_licence_application_still_completes_within_the_bounds(apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    view = await apps.grant_consent(view.application_id, "citizen-1", "prefill")
    view = await apps.grant_consent(view.application_id, "citizen-1", "terms")
    view = await apps.submit_step(view.application_id, "citizen-1", "applicant", answers_applicant())
    assert view.current_step_id == "details"
