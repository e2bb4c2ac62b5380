"""The application workflow against a real Temporal dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from onestop.engine.applications.delivery import inbox
from onestop.engine.applications.service import ApplicationService
from onestop.engine.db import Database
from onestop.engine.errors import InvalidInput, NotFound
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.workflows.contracts import ApplicationView
from onestop.workflows.interpreter import Applicant
from onestop.workflows.snapshot import ServiceSnapshot

from .conftest import CIPHER, FakeGateway, answers_applicant, licence_service

LADDER = AssuranceLadder.of([("basic", "urn:onestop:acr:basic"), ("standard", "urn:onestop:acr:standard"),
                             ("face", "urn:onestop:acr:face")])
ADULT = Applicant(age=40, age_group="adult", assurance="standard")


def fresh() -> str:
    return uuid.uuid4().hex


def service_for(snapshots: dict[str, ServiceSnapshot]) -> Callable[[str], ServiceSnapshot | None]:
    return snapshots.get


@pytest.fixture
def catalogue() -> dict[str, ServiceSnapshot]:
    return {"renew-licence": licence_service()}


@pytest.fixture
def apps(client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
         worker: Worker) -> ApplicationService:
    return ApplicationService(client, task_queue, database, service_for(catalogue), LADDER)


def face(app_id: str, step: str = "verify", **kw: object) -> Principal:
    return Principal(sub="citizen-1", kind="citizen", acr="urn:onestop:acr:face", amr=("face",),
                     auth_time=datetime.now(UTC), txn=f"{app_id}:{step}", **kw)  # type: ignore[arg-type]


async def history_length(client: Client, app_id: str) -> int:
    return len((await client.get_workflow_handle(app_id).fetch_history()).events)


async def settled_history_length(client: Client, app_id: str) -> int:
    """The history's length once the workflow has finished reacting (an index write may trail a status change)."""
    lengths = [await history_length(client, app_id)]
    for _ in range(50):
        await asyncio.sleep(0.2)
        lengths.append(await history_length(client, app_id))
        if lengths[-3:] == [lengths[-1]] * 3:
            break
    return lengths[-1]


async def through_details(apps: ApplicationService, ref: str = "citizen-1") -> ApplicationView:
    view = await apps.start(ref, ADULT, "renew-licence", fresh())
    view = await apps.grant_consent(view.application_id, ref, "prefill")
    view = await apps.grant_consent(view.application_id, ref, "terms")
    view = await apps.submit_step(view.application_id, ref, "applicant", answers_applicant())
    return await apps.submit_step(view.application_id, ref, "details",
                                  {"startDate": "2099-01-01", "vehicles": [{"plate": "AB123"}]})


async def test_full_application_reaches_the_department_inbox_with_a_reference(
    apps: ApplicationService, database: Database, gateway: FakeGateway
) -> None:
    view = await through_details(apps)
    assert view.current_step_id == "verify"
    assert view.prefilled["hkid"].value == "A123456(3)"
    assert gateway.requests[0].items == ["eme.nameEn", "eme.hkid", "eme.phone", "eme.residentialAddress"]
    view = await apps.complete_step_up(view.application_id, face(view.application_id), "citizen-1", "verify")
    assert view.current_step_id == "review"
    view = await apps.submit_step(view.application_id, "citizen-1", "review", {"declare": True})
    view = await apps.submit_step(view.application_id, "citizen-1", "submit", {})
    assert view.status == "SUBMITTED"
    assert view.reference_number is not None
    assert view.reference_number.startswith(f"TD-{datetime.now(UTC).year}-")
    handle = apps.client.get_workflow_handle(view.application_id)
    for _ in range(50):
        if (await apps.get(view.application_id, "citizen-1")).delivered:
            break
        await __import__("asyncio").sleep(0.1)
    items = await inbox(database, CIPHER, "TD")
    assert [i.application_id for i in items] == [view.application_id]
    assert items[0].reference_number == view.reference_number
    assert handle.id == view.application_id


async def test_invalid_answers_are_refused_with_field_errors_and_no_history_event(apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    await apps.grant_consent(view.application_id, "citizen-1", "prefill")
    await apps.grant_consent(view.application_id, "citizen-1", "terms")
    before = await settled_history_length(apps.client, view.application_id)
    with pytest.raises(InvalidInput) as refused:
        await apps.submit_step(view.application_id, "citizen-1", "applicant",
                               {"name": "", "hkid": "A123456(4)", "years": "five", "licenceClass": "9",
                                "colour": "red", "phone": "12345678"})
    codes = {tuple(e.path): e.code for e in refused.value.errors}
    assert codes == {("answers", "name"): "REQUIRED", ("answers", "hkid"): "INVALID_HKID",
                     ("answers", "years"): "WRONG_TYPE", ("answers", "licenceClass"): "INVALID_OPTION",
                     ("answers", "colour"): "UNKNOWN_FIELD", ("answers", "phone"): "INVALID_PHONE"}
    with pytest.raises(InvalidInput) as not_current:
        await apps.submit_step(view.application_id, "citizen-1", "details", {})
    assert not_current.value.errors[0].code == "NOT_CURRENT_STEP"
    assert await history_length(apps.client, view.application_id) == before
    after = await apps.get(view.application_id, "citizen-1")
    assert after.current_step_id == "applicant"
    assert "years" not in after.answers


async def test_custom_rule_and_repeatable_group_errors_carry_paths(apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    await apps.grant_consent(view.application_id, "citizen-1", "prefill")
    await apps.grant_consent(view.application_id, "citizen-1", "terms")
    with pytest.raises(InvalidInput) as rule:
        await apps.submit_step(view.application_id, "citizen-1", "applicant", answers_applicant(years=7))
    assert [(e.path, e.code, e.message["tc"]) for e in rule.value.errors] == [
        (["answers", "years"], "RULE", "不提供七年。")]
    await apps.submit_step(view.application_id, "citizen-1", "applicant", answers_applicant())
    with pytest.raises(InvalidInput) as group:
        await apps.submit_step(view.application_id, "citizen-1", "details",
                               {"startDate": "2000-01-01", "vehicles": [{"plate": "AB1"}, {"plate": "bad"}]})
    assert {(tuple(e.path), e.code) for e in group.value.errors} == {
        (("answers", "startDate"), "DATE_TOO_EARLY"), (("answers", "vehicles", "1", "plate"), "PATTERN")}


async def test_going_back_and_changing_an_answer_drops_answers_that_no_longer_apply(
    apps: ApplicationService,
) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    app = view.application_id
    await apps.grant_consent(app, "citizen-1", "prefill")
    await apps.grant_consent(app, "citizen-1", "terms")
    view = await apps.submit_step(app, "citizen-1", "applicant", answers_applicant(licenceClass="2"))
    assert view.current_step_id == "medical"
    view = await apps.submit_step(app, "citizen-1", "medical", {"fit": True})
    assert view.answers["fit"] is True
    assert view.current_step_id == "details"
    view = await apps.go_back(app, "citizen-1", "applicant")
    assert view.current_step_id == "applicant"
    assert view.answers["licenceClass"] == "2"
    view = await apps.submit_step(app, "citizen-1", "applicant", answers_applicant(licenceClass="1"))
    assert "fit" not in view.answers
    assert "medical" not in view.completed
    assert view.current_step_id == "details"


async def test_an_exit_step_shows_its_message_and_closing_it_ends_the_application_as_not_eligible(
        apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    app = view.application_id
    await apps.grant_consent(app, "citizen-1", "prefill")
    await apps.grant_consent(app, "citizen-1", "terms")
    await apps.submit_step(app, "citizen-1", "applicant", answers_applicant(years=10))
    view = await apps.submit_step(app, "citizen-1", "details", {"startDate": "2099-01-01"})
    assert view.status == "DRAFT"
    assert view.current_step is not None
    assert view.current_step.type == "exit"
    message = {"en": "Ten-year licences are not available online.",
               "tc": "Ten-year licences are not available online."}
    assert view.exit_message == message
    view = await apps.withdraw(app, "citizen-1")
    assert view.status == "NOT_ELIGIBLE"
    assert view.exit_message == message


async def test_an_underage_citizen_is_not_eligible(apps: ApplicationService) -> None:
    view = await apps.start("citizen-2", Applicant(age=16, age_group="youth"), "renew-licence", fresh())
    assert view.status == "NOT_ELIGIBLE"
    assert view.exit_message is not None
    assert view.exit_message["en"] == "You must be 18 or over."


async def test_a_required_consent_cannot_be_declined(apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    view = await apps.decline_consent(view.application_id, "citizen-1", "prefill")
    assert view.current_step_id == "terms"
    assert view.prefilled == {}
    with pytest.raises(InvalidInput) as refused:
        await apps.decline_consent(view.application_id, "citizen-1", "terms")
    assert refused.value.errors[0].code == "CONSENT_REQUIRED"
    view = await apps.get(view.application_id, "citizen-1")
    assert view.current_step_id == "terms"
    assert "terms" not in view.consents


async def test_withdraw_before_a_decision(apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    view = await apps.withdraw(view.application_id, "citizen-1")
    assert view.status == "WITHDRAWN"
    with pytest.raises(InvalidInput) as again:
        await apps.withdraw(view.application_id, "citizen-1")
    assert again.value.errors[0].code == "NOT_WITHDRAWABLE"


async def test_a_repeated_action_with_the_same_client_mutation_id_applies_once(apps: ApplicationService) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    app = view.application_id
    await apps.grant_consent(app, "citizen-1", "prefill", "m1")
    first = await apps.grant_consent(app, "citizen-1", "terms", "m2")
    again = await apps.grant_consent(app, "citizen-1", "terms", "m2")
    assert first.current_step_id == again.current_step_id == "applicant"
    assert first.consents == again.consents


async def test_two_concurrent_starts_with_one_client_mutation_id_give_one_application(
    apps: ApplicationService, database: Database
) -> None:
    import asyncio

    same = fresh()
    a, b = await asyncio.gather(apps.start("citizen-1", ADULT, "renew-licence", same),
                                apps.start("citizen-1", ADULT, "renew-licence", same))
    assert a.application_id == b.application_id
    listed = await apps.list_for_citizen("citizen-1")
    assert [x.application_id for x in listed.entries] == [a.application_id]


async def test_a_new_start_answers_briefly_and_a_retried_start_with_the_application_on_its_pinned_version(
    client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot], worker: Worker
) -> None:
    same = fresh()
    first = await ApplicationService(client, task_queue, database, service_for(catalogue), LADDER).start(
        "citizen-1", ADULT, "renew-licence", same, brief=True)
    # Rendered from the snapshot this start pinned, without asking the workflow again.
    assert (first.partial, first.current_step_id, first.content_hash) == (True, "prefill", "hash-v1")
    catalogue["renew-licence"] = licence_service(version=2)
    # Another process (it knows nothing of the application) retries the start after a catalogue reload: the
    # workflow answers with the whole view, on the version it runs, not the catalogue's new one.
    again = await ApplicationService(client, task_queue, database, service_for(catalogue), LADDER).start(
        "citizen-1", ADULT, "renew-licence", same, brief=True)
    assert again.application_id == first.application_id
    assert (again.partial, again.content_hash, again.service_version) == (False, "hash-v1", 1)


async def test_another_citizen_cannot_see_or_act_on_an_application(apps: ApplicationService) -> None:
    from onestop.engine.errors import NotFound

    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    with pytest.raises(NotFound):
        await apps.get(view.application_id, "citizen-2")
    with pytest.raises(NotFound):
        await apps.grant_consent(view.application_id, "citizen-2", "prefill")


async def test_a_running_application_keeps_its_definition_version(
    apps: ApplicationService, catalogue: dict[str, ServiceSnapshot]
) -> None:
    old = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    catalogue["renew-licence"] = licence_service(version=2)
    new = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    assert (await apps.get(old.application_id, "citizen-1")).service_version == 1
    assert new.service_version == 2


@pytest.mark.parametrize(("acr", "age", "binding", "reason"), [
    ("urn:onestop:acr:standard", 0, "bound", "acr"),
    ("urn:onestop:acr:face", 600, "bound", "max_age"),
    ("urn:onestop:acr:face", 0, "app-other:verify", "binding"),
])
async def test_step_up_refuses_a_weak_stale_or_unbound_token(
    apps: ApplicationService, acr: str, age: int, binding: str, reason: str
) -> None:
    from datetime import timedelta

    from onestop.engine.identity.stepup import InsufficientAuthentication

    view = await through_details(apps)
    app = view.application_id
    before = await settled_history_length(apps.client, app)
    token = Principal(sub="citizen-1", kind="citizen", acr=acr, amr=("face",),
                      auth_time=datetime.now(UTC) - timedelta(seconds=age),
                      txn=f"{app}:verify" if binding == "bound" else binding)
    with pytest.raises(InsufficientAuthentication) as challenge:
        await apps.complete_step_up(app, token, "citizen-1", "verify")
    assert challenge.value.extensions["acr_values"] == "urn:onestop:acr:face"
    assert challenge.value.extensions["reason"] == reason
    assert (await apps.get(app, "citizen-1")).current_step_id == "verify"
    assert await history_length(apps.client, app) == before


async def test_a_long_application_continues_as_new_and_keeps_everything(
    client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot], worker: Worker
) -> None:
    apps = ApplicationService(client, task_queue, database, service_for(catalogue), LADDER, history_limit=20)
    view = await through_details(apps)
    app = view.application_id
    view = await apps.complete_step_up(app, face(app), "citizen-1", "verify")
    view = await apps.submit_step(app, "citizen-1", "review", {"declare": True})
    view = await apps.submit_step(app, "citizen-1", "submit", {})
    assert view.status == "SUBMITTED"
    history = await client.get_workflow_handle(app).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id  # the current run was continued from an earlier one
    latest = await apps.get(app, "citizen-1")
    assert latest.answers["hkid"] == "A123456(3)"
    assert latest.completed[:3] == ["prefill", "terms", "applicant"]
    assert latest.reference_number == view.reference_number


async def test_department_staff_see_submitted_applications_of_their_department_only(
    apps: ApplicationService,
) -> None:
    from onestop.engine.errors import Forbidden, NotFound

    draft = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    await apps.withdraw(draft.application_id, "citizen-1")
    view = await through_details(apps)
    app = view.application_id
    await apps.complete_step_up(app, face(app), "citizen-1", "verify")
    await apps.submit_step(app, "citizen-1", "review", {"declare": True})
    await apps.submit_step(app, "citizen-1", "submit", {})
    td = Principal(sub="td-1", kind="staff", acr="urn:onestop:acr:standard", amr=("pwd",),
                   auth_time=datetime.now(UTC), department="TD", roles=("caseworker",))
    immd = Principal(sub="immd-1", kind="staff", acr="urn:onestop:acr:standard", amr=("pwd",),
                     auth_time=datetime.now(UTC), department="IMMD", roles=("caseworker",))
    inbox_ids = [x.application_id for x in (await apps.department_inbox(td)).entries]
    assert app in inbox_ids
    assert draft.application_id not in inbox_ids
    assert (await apps.department_inbox(immd)).entries == []
    with pytest.raises(NotFound):
        await apps.get_for_staff(td, draft.application_id)
    with pytest.raises(NotFound):
        await apps.update_status(immd, app, "APPROVED")
    with pytest.raises(Forbidden):
        await apps.department_inbox(face(app))
    with pytest.raises(InvalidInput) as no_message:
        await apps.update_status(td, app, "NEEDS_INFO")
    assert no_message.value.errors[0].code == "REQUIRED"
    with pytest.raises(InvalidInput) as not_approver:
        await apps.update_status(td, app, "REJECTED", "Licence suspended")
    assert [(e.path, e.code) for e in not_approver.value.errors] == [(["status"], "APPROVER_REQUIRED")]
    assert "approver must decide" in not_approver.value.errors[0].message["en"]
    view = await apps.update_status(td, app, "IN_REVIEW")
    assert view.status == "IN_REVIEW"
    supervisor = Principal(sub="td-2", kind="staff", acr="urn:onestop:acr:standard", amr=("pwd",),
                           auth_time=datetime.now(UTC), department="TD", roles=("caseworker", "approver"))
    view = await apps.update_status(supervisor, app, "REJECTED", "Licence suspended")
    assert (view.status, view.timeline[-1].message) == ("REJECTED", "Licence suspended")
    with pytest.raises(InvalidInput) as decided:
        await apps.update_status(supervisor, app, "APPROVED")
    assert decided.value.errors[0].code == "INVALID_TRANSITION"


@pytest.mark.slow
async def test_a_second_action_while_prefill_runs_is_refused(
    apps: ApplicationService, gateway: FakeGateway
) -> None:
    import asyncio

    gateway.delay = 3.0
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    app = view.application_id
    granting = asyncio.create_task(apps.grant_consent(app, "citizen-1", "prefill"))
    await asyncio.wait_for(gateway.started.wait(), 20)  # the prefill runs: the grant is in progress
    with pytest.raises(InvalidInput) as busy:
        await apps.decline_consent(app, "citizen-1", "prefill")
    # Prefill is a local activity: Temporal holds the second update until the grant's workflow task ends, and
    # then the step is no longer current. A prefill outlasting the workflow task's heartbeat meets BUSY instead.
    assert busy.value.errors[0].code in ("BUSY", "NOT_CURRENT_STEP")
    view = await granting
    assert view.completed == ["prefill"]
    assert view.consents == {"prefill": "consent-1"}


async def test_a_failed_prefill_changes_nothing_and_can_be_retried(
    apps: ApplicationService, gateway: FakeGateway
) -> None:
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    app = view.application_id
    gateway.fail = True
    with pytest.raises(InvalidInput) as failed:
        await apps.grant_consent(app, "citizen-1", "prefill", "try-1")
    assert failed.value.errors[0].code == "PREFILL_FAILED"
    assert (await apps.get(app, "citizen-1")).current_step_id == "prefill"
    gateway.fail = False
    view = await apps.grant_consent(app, "citizen-1", "prefill", "try-2")
    assert view.current_step_id == "terms"
    assert view.prefilled["name"].value == "CHAN Tai Man"


def staff(department: str = "TD", *roles: str) -> Principal:
    return Principal(sub=f"{department.lower()}-staff", kind="staff", acr="urn:onestop:acr:standard", amr=("pwd",),
                     auth_time=datetime.now(UTC), department=department, roles=roles or ("caseworker",))


async def submitted(apps: ApplicationService) -> str:
    view = await through_details(apps)
    app = view.application_id
    await apps.complete_step_up(app, face(app), "citizen-1", "verify")
    await apps.submit_step(app, "citizen-1", "review", {"declare": True})
    await apps.submit_step(app, "citizen-1", "submit", {})
    return app


async def test_a_citizen_answers_a_request_for_information_and_the_application_is_in_review_again(
    apps: ApplicationService,
) -> None:
    app = await submitted(apps)
    officer = staff()
    with pytest.raises(InvalidInput) as early:
        await apps.respond(app, "citizen-1", "Here is my photo")
    assert early.value.errors[0].code == "NOT_AWAITING_INFO"
    await apps.update_status(officer, app, "NEEDS_INFO", "Upload a recent photo")
    before = await settled_history_length(apps.client, app)

    with pytest.raises(NotFound):
        await apps.respond(app, "citizen-2", "Not mine")
    with pytest.raises(InvalidInput) as empty:
        await apps.respond(app, "citizen-1", "   ")
    assert [(e.path, e.code) for e in empty.value.errors] == [(["message"], "REQUIRED")]
    with pytest.raises(InvalidInput) as long:
        await apps.respond(app, "citizen-1", "x" * 2001)
    assert [(e.path, e.code) for e in long.value.errors] == [(["message"], "TOO_LONG")]
    assert await history_length(apps.client, app) == before  # refused by the validator: no history event
    assert (await apps.get(app, "citizen-1")).status == "NEEDS_INFO"

    view = await apps.respond(app, "citizen-1", " Photo uploaded to my e-ME locker. ", "reply-1")
    assert view.status == "IN_REVIEW"
    last = view.timeline[-1]
    assert (last.status, last.message, last.actor) == ("IN_REVIEW", "Photo uploaded to my e-ME locker.", "citizen")
    again = await apps.respond(app, "citizen-1", " Photo uploaded to my e-ME locker. ", "reply-1")
    assert len(again.timeline) == len(view.timeline)  # a retried mutation is not a second reply

    inbox_view = await apps.get_for_staff(officer, app)
    assert inbox_view.timeline[-1].message == "Photo uploaded to my e-ME locker."
    in_review = await apps.department_inbox(officer, status="IN_REVIEW")
    assert [(i.application_id, i.status) for i in in_review.entries] == [(app, "IN_REVIEW")]
    with pytest.raises(InvalidInput) as twice:
        await apps.respond(app, "citizen-1", "And another thing")
    assert twice.value.errors[0].code == "NOT_AWAITING_INFO"


async def test_a_reply_fits_in_2000_characters(apps: ApplicationService) -> None:
    app = await submitted(apps)
    await apps.update_status(staff(), app, "NEEDS_INFO", "Tell us more")
    view = await apps.respond(app, "citizen-1", "y" * 2000)
    assert view.timeline[-1].message == "y" * 2000


async def test_a_caseworker_may_not_decide_but_an_approver_may(apps: ApplicationService) -> None:
    app = await submitted(apps)
    for decision in ("APPROVED", "REJECTED"):
        with pytest.raises(InvalidInput) as refused:
            await apps.update_status(staff(), app, decision)
        assert refused.value.errors[0].code == "APPROVER_REQUIRED"
    assert (await apps.update_status(staff(), app, "IN_REVIEW")).status == "IN_REVIEW"
    view = await apps.update_status(staff("TD", "caseworker", "approver"), app, "APPROVED")
    assert view.status == "APPROVED"


async def test_a_step_is_checked_by_its_validator_and_stored_by_its_handler_without_a_second_check(
    apps: ApplicationService, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler runs right after its validator, on the same progress: it takes the accepted answers and the
    dry run's pruned progress instead of interpreting the step again. A replay, which runs no validator, checks
    again (the recorded histories replay), and so does the handler of a run whose validator saw other answers."""
    from onestop.workflows import interpreter as interp

    # Our data converter stores nothing outside the history: no task per payload list walking activations for it.
    assert worker.config()["max_workflow_task_external_storage_concurrency"] == 1
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    view = await apps.grant_consent(view.application_id, "citizen-1", "prefill")
    view = await apps.grant_consent(view.application_id, "citizen-1", "terms")
    checks: list[bool] = []
    prunes: list[int] = []
    validate_step, prune = interp.validate_step, interp.prune

    def checking(snapshot: ServiceSnapshot, *args: object, bounded: bool = True, **kwargs: object) -> object:
        if snapshot.id == "renew-licence":  # not provenance's one-field check of a prefilled value
            checks.append(bounded)
        return validate_step(snapshot, *args, bounded=bounded, **kwargs)  # type: ignore[arg-type]

    def pruning(*args: object, **kwargs: object) -> object:
        prunes.append(1)
        return prune(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(interp, "validate_step", checking)
    monkeypatch.setattr(interp, "prune", pruning)
    view = await apps.submit_step(view.application_id, "citizen-1", "applicant", answers_applicant())
    assert view.current_step_id == "details"
    assert view.answers["years"] == 5
    assert checks == [True]  # the validator's bounded check only; before, the handler's unbounded one as well
    assert len(prunes) == 1  # the validator's dry run; before, the handler's completion pruned again
