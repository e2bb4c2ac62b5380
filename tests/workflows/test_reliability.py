"""Failure and evolution: encrypted history, replay of recorded histories, expiry, flaky departments, crashes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from onestop.engine.applications import pinned
from onestop.engine.applications.delivery import inbox
from onestop.engine.applications.drafts import DraftStore
from onestop.engine.applications.service import ApplicationService
from onestop.engine.appointments import SlotStore
from onestop.engine.crypto.codec import data_converter
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.providers import SqlRegistryProvider
from onestop.engine.db import Database
from onestop.engine.errors import Forbidden, InvalidInput, NotFound
from onestop.engine.identity.principal import Principal
from onestop.engine.temporal import sandboxed_runner, workflow_runner
from onestop.workflows.application import ServiceApplicationWorkflow
from onestop.workflows.interpreter import Applicant
from onestop.workflows.snapshot import (
    AppointmentSpec,
    FieldSpec,
    FormSpec,
    PrefillSpec,
    ServiceSnapshot,
    SubmitSpec,
)

from . import worker_process
from .conftest import (
    CIPHER,
    CITIZEN,
    CODEC_KEY,
    answers_applicant,
    appointment_service,
    fee_service,
    licence_service,
)
from .test_acting_timers import school_service
from .test_application import ADULT, LADDER, face, fresh, through_details

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def apps_for(client: Client, task_queue: str, database: Database, *services: ServiceSnapshot) -> ApplicationService:
    catalogue = {s.id: s for s in services}
    return ApplicationService(client, task_queue, database, catalogue.get, LADDER)


async def finish(apps: ApplicationService, ref: str = "citizen-1") -> str:
    view = await through_details(apps, ref)
    app = view.application_id
    await apps.complete_step_up(app, face(app), ref, "verify")
    await apps.submit_step(app, ref, "review", {"declare": True})
    await apps.submit_step(app, ref, "submit", {})
    return app


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_temporal_history_holds_no_personal_data_in_clear(
    client: Client, raw_client: Client, task_queue: str, database: Database, worker: Worker
) -> None:
    apps = apps_for(client, task_queue, database, licence_service())
    app = await finish(apps)
    await until(lambda: _delivered(apps, app))
    await client.get_workflow_handle(app).signal("departmentStatus", _approved())
    history = await raw_client.get_workflow_handle(app).fetch_history()
    raw = json.dumps(history.to_json_dict())
    for secret in ("A123456", "CHAN Tai Man", "91234567", "Harbour Mansion", "Queen's Road"):
        assert secret not in raw
    assert "encryption-key-id" in raw
    # With the codec, the same history decodes: the data is there, only unreadable to Temporal.
    view = await apps.get(app, "citizen-1")
    assert view.answers["hkid"] == CITIZEN["hkid"]


def _approved() -> object:
    from onestop.workflows.contracts import DepartmentStatus

    return DepartmentStatus("APPROVED", "ok", "staff-1")


async def _delivered(apps: ApplicationService, app: str) -> bool:
    return (await apps.get(app, "citizen-1")).delivered


async def _record_full(apps: ApplicationService, client: Client) -> str:
    app = await finish(apps)
    await until(lambda: _delivered(apps, app))
    await client.get_workflow_handle(app).signal("departmentStatus", _approved())
    return app


async def _record_back_and_withdraw(apps: ApplicationService, client: Client) -> str:
    view = await through_details(apps)
    app = view.application_id
    await apps.go_back(app, "citizen-1", "applicant")
    await apps.submit_step(app, "citizen-1", "applicant", answers_applicant(licenceClass="2"))
    await apps.withdraw(app, "citizen-1")
    return app


async def _record_expired(apps: ApplicationService, client: Client) -> str:
    view = await apps.start("citizen-1", ADULT, "renew-licence-short", fresh())
    await apps.decline_consent(view.application_id, "citizen-1", "prefill")
    return view.application_id


async def _record_needs_info_reply(apps: ApplicationService, client: Client) -> str:
    from onestop.workflows.contracts import DepartmentStatus

    app = await finish(apps)
    await until(lambda: _delivered(apps, app))
    handle = client.get_workflow_handle(app)
    await handle.signal("departmentStatus", DepartmentStatus("NEEDS_INFO", "Upload a photo", "staff-1"))
    await until(lambda: _status_is(apps, app, "NEEDS_INFO"))
    await apps.respond(app, "citizen-1", "Uploaded", "reply-1")
    await handle.signal("departmentStatus", _approved())
    return app


async def _record_redelivery(apps: ApplicationService, client: Client) -> str:
    department = BrokenDepartment(500)
    async with _serving(department.receive) as url:
        failing = ApplicationService(client, apps.task_queue, apps.database,
                                     {"renew-licence": licence_service(endpoint=url)}.get, LADDER,
                                     delivery_retry=DELIVERY_WINDOW)
        app = await finish(failing)
        await until(lambda: _staff_status_is(failing, app, "DELIVERY_FAILED"), within=30)
        department.status = 200
        await failing.redeliver(OPERATOR, app, "redeliver-1")
        await until(lambda: _delivered(failing, app), within=15)
        await client.get_workflow_handle(app).signal("departmentStatus", _approved())
    return app


def documents_service() -> ServiceSnapshot:
    """A form with a file field and a list of files: answers are document ids (the engine checks whose)."""
    return ServiceSnapshot(
        id="documents-service", version=1, content_hash="hash-documents-v1", department="TD",
        title={"en": "Send documents", "tc": "遞交文件"},
        steps=[
            FormSpec(id="evidence", title={"en": "Evidence", "tc": "證明"}, fields=[
                FieldSpec(id="report", type="file", label={"en": "Report", "tc": "報告"}, required=True,
                          accept=["pdf"], max_bytes=1024 * 1024, delete_after_decision_days=90),
                FieldSpec(id="proofs", type="file", label={"en": "Proofs", "tc": "證明"}, multiple=True,
                          min_items=1, max_items=2, accept=["pdf", "png"], max_bytes=1024 * 1024),
            ]),
            SubmitSpec(id="submit", title={"en": "Submit", "tc": "遞交"}),
        ],
    )


async def _record_file_fields(apps: ApplicationService, client: Client) -> str:
    view = await apps.start("citizen-1", ADULT, "documents-service", fresh())
    app = view.application_id
    refused = None
    try:
        await apps.submit_step(app, "citizen-1", "evidence", {"report": "not-a-document-id", "proofs": []})
    except InvalidInput as exc:
        refused = exc
    assert refused is not None
    assert refused.code == "WRONG_TYPE"
    await apps.submit_step(app, "citizen-1", "evidence", {
        "report": "doc-" + "a" * 32, "proofs": ["doc-" + "b" * 32, "doc-" + "c" * 32]})
    await apps.submit_step(app, "citizen-1", "submit", {})
    await until(lambda: _delivered(apps, app))
    await client.get_workflow_handle(app).signal("departmentStatus", _approved())
    return app


async def _to_fee(apps: ApplicationService) -> str:
    view = await apps.start("citizen-1", ADULT, "licence-fee", fresh())
    await apps.submit_step(view.application_id, "citizen-1", "licence", {"period": "10"})
    return view.application_id


async def _pay(apps: ApplicationService, client: Client, app: str, result: str) -> str:
    from onestop.workflows.payments import SIGNAL_PAYMENT_RESULT, PaymentOutcome, ProviderResult

    view = await apps.begin_payment(app, "citizen-1", "fee", "https://onestop.example/back", fresh())
    payment = view.payments[-1]
    outcome = PaymentOutcome(payment.payment_id, ProviderResult(result), f"evt-{payment.payment_id}", "fps",
                             "FPS-1" if result == "succeeded" else None)
    handle = client.get_workflow_handle(app)
    await handle.signal(SIGNAL_PAYMENT_RESULT, outcome)
    await handle.signal(SIGNAL_PAYMENT_RESULT, outcome)  # the provider's duplicate: changes nothing
    await until(lambda: _payment_is(apps, app, payment.payment_id, "PAID" if result == "succeeded" else "FAILED"))
    return payment.payment_id


async def _payment_is(apps: ApplicationService, app: str, payment_id: str, status: str) -> bool:
    view = await apps.get(app, "citizen-1")
    return any(p.payment_id == payment_id and p.status == status and (status != "PAID" or p.receipt_id)
               for p in view.payments)


async def _record_paid(apps: ApplicationService, client: Client) -> str:
    app = await _to_fee(apps)
    await _pay(apps, client, app, "succeeded")
    await apps.submit_step(app, "citizen-1", "send", {})
    await until(lambda: _delivered(apps, app))
    await client.get_workflow_handle(app).signal("departmentStatus", _approved())
    return app


def _anonymous_service() -> ServiceSnapshot:
    return replace(licence_service(), id="renew-licence-anon", eligibility_when=None)


async def _record_notices(apps: ApplicationService, client: Client) -> str:
    from .test_notices import noticed_service

    noticing = ApplicationService(client, apps.task_queue, apps.database,
                                  {"renew-licence": noticed_service()}.get, LADDER)
    return await _record_needs_info_reply(noticing, client)


async def _record_draft_reminder(apps: ApplicationService, client: Client) -> str:
    from .test_notices import noticed_service

    noticing = ApplicationService(client, apps.task_queue, apps.database,
                                  {"renew-licence": noticed_service(draft_expiry_seconds=4)}.get, LADDER)
    return (await noticing.start("citizen-1", ADULT, "renew-licence", fresh())).application_id


def _slots_ahead(count: int) -> list[datetime]:
    """The next ``count`` half-hour slot starts at least an hour ahead (Hong Kong time), within opening hours."""
    from onestop.workflows.slots import HONG_KONG, slots_on

    now = datetime.now(HONG_KONG)
    spec = appointment_service().steps[0]
    assert isinstance(spec, AppointmentSpec)
    starts = [s for day in (now.date(), now.date() + timedelta(days=1)) for s in slots_on(spec, day)
              if s > now + timedelta(hours=1)]
    return starts[:count]


async def _record_appointment(apps: ApplicationService, client: Client) -> str:
    # Booked, moved, submitted (the slot confirmed, the day-before hook fires at once: the slot is within a day),
    # then approved.
    first, second = _slots_ahead(2)
    return await _booked_reminded_approved(apps, client, "book-visit", ("north", first), ("south", second))


async def _booked_reminded_approved(apps: ApplicationService, client: Client, service_id: str,
                                    *bookings: tuple[str, datetime]) -> str:
    """Booked (and moved, for each booking after the first), submitted, reminded, then approved."""
    app = (await apps.start("citizen-1", ADULT, service_id, fresh())).application_id
    for office, start in bookings:
        await apps.book_appointment(app, "citizen-1", "visit", office, start)
    await apps.submit_step(app, "citizen-1", "submit", {})
    await until(lambda: _delivered(apps, app))
    await until(lambda: _reminded(apps, app))
    await client.get_workflow_handle(app).signal("departmentStatus", _approved())
    return app


def _early_reminder_service() -> ServiceSnapshot:
    """The booking service with its reminder three days ahead (a lead time declared on the step)."""
    service = appointment_service()
    visit, *rest = service.steps
    assert isinstance(visit, AppointmentSpec)
    return replace(service, id="book-visit-early", steps=[replace(visit, reminder_seconds=3 * 86400), *rest])


async def _record_early_reminder(apps: ApplicationService, client: Client) -> str:
    # A reminder lead time longer than the wait for the slot: the hook fires as soon as the booking is confirmed.
    [start] = _slots_ahead(1)
    return await _booked_reminded_approved(apps, client, "book-visit-early", ("north", start))


async def _record_paid_then_withdrawn(apps: ApplicationService, client: Client) -> str:
    app = await _to_fee(apps)
    await _pay(apps, client, app, "failed")
    paid = await _pay(apps, client, app, "succeeded")
    await apps.withdraw(app, "citizen-1")
    await until(lambda: _payment_is(apps, app, paid, "REFUNDED"))
    return app


async def _record_appointment_expired(apps: ApplicationService, client: Client) -> str:
    # A hold runs out (the place is released, the step reopens), the citizen books again, then withdraws.
    first, second = _slots_ahead(2)
    view = await apps.start("citizen-1", ADULT, "book-visit-brief", fresh())
    app = view.application_id
    await apps.book_appointment(app, "citizen-1", "visit", "north", first)
    await until(lambda: _no_booking(apps, app))
    await apps.book_appointment(app, "citizen-1", "visit", "north", second)
    await apps.withdraw(app, "citizen-1")
    return app


async def _reminded(apps: ApplicationService, app: str) -> bool:
    records = await SlotStore(apps.database).bookings(app)
    return any(r.reminder_due_at is not None for r in records)


async def _no_booking(apps: ApplicationService, app: str) -> bool:
    return not (await apps.get(app, "citizen-1")).bookings


async def _record_anonymous_draft(apps: ApplicationService, client: Client) -> str:
    # An anonymous start records a draft and no workflow; the first action starts it with the draft carried in.
    drafting = ApplicationService(client, apps.task_queue, apps.database,
                                  {"renew-licence-anon": _anonymous_service()}.get, LADDER,
                                  drafts=DraftStore(apps.database, CIPHER, timedelta(days=1)))
    anonymous = Applicant(assurance="basic", logged_in=False)
    view = await drafting.start("anon-1", anonymous, "renew-licence-anon", fresh())
    app = view.application_id
    await drafting.decline_consent(app, "anon-1", "prefill")
    await drafting.grant_consent(app, "anon-1", "terms")
    await drafting.submit_step(app, "anon-1", "applicant", answers_applicant())
    await drafting.withdraw(app, "anon-1")
    return app


async def _owned_by(apps: ApplicationService, app: str, ref: str) -> bool:
    try:
        await apps.get(app, ref)
    except NotFound:
        return False
    return True


async def _record_acting_turns_18(apps: ApplicationService, client: Client) -> str:
    # A parent's draft for a child whose 18th birthday comes in 3 seconds: the timer hands it to the new adult,
    # who withdraws it.
    from .test_acting_timers import CHILD, parent_for, started

    app = (await started(apps, parent_for(datetime.now(UTC) + timedelta(seconds=3)))).application_id
    await until(lambda: _owned_by(apps, app, CHILD.ref))
    await apps.withdraw(app, CHILD.ref)
    return app


async def _record_acting_mandate_revoked(apps: ApplicationService, client: Client) -> str:
    # A carer's draft under a mandate: revoked (the actingEnded signal), the grantor withdraws it.
    from onestop.engine.relationships import Acting, ActingAs

    from .test_acting_timers import CARER, GRANTOR, started

    acting = Acting(CARER, GRANTOR, ActingAs.MANDATE, "mandate-r", until=datetime.now(UTC) + timedelta(days=30))
    app = (await started(apps, acting)).application_id
    await apps.end_acting([app])
    await until(lambda: _owned_by(apps, app, GRANTOR.ref))
    await apps.withdraw(app, GRANTOR.ref)
    return app


async def _record_acting_guardianship_end_date(apps: ApplicationService, client: Client) -> str:
    # A guardian's draft with no term (a guardianship with no end date, as every application before terms): given
    # an end date by the actingTerm signal (patch "acting-terms"), its timer hands it to the ward, who withdraws it.
    from onestop.workflows.contracts import ActingEnd, ActingTerm

    from .test_acting_timers import WARD, guardian_for, started

    app = (await started(apps, guardian_for())).application_id
    term = ActingTerm(WARD.ref, datetime.now(UTC) + timedelta(seconds=3), ActingEnd.GUARDIANSHIP)
    await apps.set_acting_term({app: term})
    await until(lambda: _owned_by(apps, app, WARD.ref))
    await apps.withdraw(app, WARD.ref)
    return app


async def _record_acting_ended_without_term(apps: ApplicationService, client: Client) -> str:
    # A guardian's draft with no term, ended at once (the actingEnded signal naming the ward): closed, as a service
    # declaring `whenActingEnds: close` asks.
    from onestop.workflows.contracts import ActingEnd

    from .test_acting_timers import WARD, guardian_for, started

    app = (await started(apps, guardian_for())).application_id
    await apps.end_acting([app], ActingEnd.GUARDIANSHIP, subject_ref=WARD.ref, on_end={app: "close"})
    return app


# A scenario recorded again under a new name pins the payload shape of its time: "typed-steps" carries the
# snapshot with one class per step kind; the older ones carry the flat step class with every key.
SCENARIOS = {"full-application": _record_full, "back-and-withdraw": _record_back_and_withdraw,
             "expired-draft": _record_expired, "full-application-indexed-submit": _record_full,
             "needs-info-reply": _record_needs_info_reply, "full-application-typed-steps": _record_full,
             "delivery-failed-redelivered": _record_redelivery,
             # Started with LEAN_BEHAVIOUR: no patch markers, no index write at the start, prefill as a local activity.
             "full-application-lean": _record_full, "back-and-withdraw-lean": _record_back_and_withdraw,
             # A payment step: paid (a duplicate webhook ignored), delivered, approved; declined then paid, then
             # withdrawn and refunded.
             "payment-paid-lean": _record_paid, "payment-refunded-lean": _record_paid_then_withdrawn,
             # Snapshots with notices: a notice activity per event (patch "notices"), a reminder timer for drafts.
             "notices-needs-info-reply": _record_notices, "notices-draft-reminder": _record_draft_reminder,
             # Appointment steps: holds, reschedule, confirmation, the day-before hook, expiry and release.
             "appointment-booked-moved-approved": _record_appointment,
             "appointment-hold-expired-withdrawn": _record_appointment_expired,
             # The reminder's lead time declared on the appointment step (three days, not the day before).
             "appointment-reminder-lead-time": _record_early_reminder,
             # Started by its first action from an anonymous draft: the first run carries the draft's state.
             "anonymous-draft-first-action": _record_anonymous_draft,
             # File fields: document ids as answers.
             "file-fields": _record_file_fields,
             # Started with BRIEF_BEHAVIOUR: the snapshot by reference (kept in pinned/), brief action answers.
             "full-application-brief": _record_full, "back-and-withdraw-brief": _record_back_and_withdraw,
             "anonymous-draft-first-action-brief": _record_anonymous_draft,
             # Started with OUTBOX_BEHAVIOUR: notices go to the engine's outbox from the reference's local activity
             # and the index's (record_changes), with no send_notice activity and no "notices" patch marker.
             "notices-needs-info-reply-outbox": _record_notices,
             "notices-draft-reminder-outbox": _record_draft_reminder,
             # Started for someone else (patch "acting-ends"): handed over on the birthday timer, or on revocation.
             "acting-child-turns-18": _record_acting_turns_18,
             "acting-mandate-revoked": _record_acting_mandate_revoked,
             # Given a term by signal, or ended by a signal naming the subject (patch "acting-terms").
             "acting-guardianship-end-date-set": _record_acting_guardianship_end_date,
             "acting-ended-without-term": _record_acting_ended_without_term}
PINNED = HISTORIES / "pinned"
"""The snapshots recorded histories name by reference, as ``pinned.dump`` wrote them (the store's rows)."""


async def test_recorded_histories_replay_with_the_current_workflow_code(
    client: Client, task_queue: str, database: Database, worker: Worker
) -> None:
    if os.environ.get("ONESTOP_RECORD_HISTORIES"):
        # Recorded histories are never overwritten: they stand for applications already running in production.
        short = replace(licence_service(draft_expiry_seconds=2), id="renew-licence-short")
        apps = apps_for(client, task_queue, database, licence_service(), short, fee_service())
        brief = replace(appointment_service(hold_seconds=3), id="book-visit-brief")
        apps = apps_for(client, task_queue, database, licence_service(), short, appointment_service(), brief,
                        documents_service(), _early_reminder_service(), school_service())
        for name, scenario in SCENARIOS.items():
            if (HISTORIES / f"{name}.json").exists():
                continue
            app = await scenario(apps, client)
            await client.get_workflow_handle(app).result()
            history = await client.get_workflow_handle(app).fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())
        PINNED.mkdir(exist_ok=True)
        from .test_notices import noticed_service

        for snapshot in (licence_service(), short, _anonymous_service(), noticed_service(),
                         noticed_service(draft_expiry_seconds=4), _early_reminder_service(), school_service()):
            ref, data = pinned.dump(snapshot)
            (PINNED / f"{ref}.json").write_bytes(data)
    for path in PINNED.glob("*.json"):  # as a worker finds them in its database
        snapshot = pinned.load(path.stem, path.read_bytes())
        assert snapshot is not None, f"{path} is not the snapshot its name is the digest of"
        pinned.remember(path.stem, snapshot)
    files = sorted(HISTORIES.glob("*.json"))
    assert {path.stem for path in files} >= set(SCENARIOS), "record with ONESTOP_RECORD_HISTORIES=1"
    # In the sandbox too: workers run without it, and here it still refuses a clock or I/O call in workflow code.
    for runner in (workflow_runner(), sandboxed_runner()):
        replayer = Replayer(workflows=[ServiceApplicationWorkflow], data_converter=data_converter(CODEC_KEY),
                            workflow_runner=runner)
        for path in files:
            await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


async def test_a_new_application_records_no_patch_no_index_at_start_and_prefill_as_a_marker(
    client: Client, task_queue: str, database: Database, worker: Worker
) -> None:
    from temporalio.api.enums.v1 import EventType

    apps = apps_for(client, task_queue, database, licence_service())
    view = await through_details(apps)
    # The engine's start indexed the draft; the workflow wrote nothing else to the index before the prefill.
    listed = await apps.list_for_citizen("citizen-1")
    assert view.application_id in [entry.application_id for entry in listed.entries]
    events = (await client.get_workflow_handle(view.application_id).fetch_history()).events
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    markers = [e.marker_recorded_event_attributes.marker_name for e in events
               if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert scheduled == []
    # No patch marker (the input says which behaviour the run has) and one local activity: the prefill.
    assert markers == ["core_local_activity"]


async def test_a_run_of_a_newer_behaviour_fails_its_task_not_the_workflow_on_an_older_worker(
    client: Client, task_queue: str, database: Database, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from temporalio.api.enums.v1 import EventType

    import onestop.engine.applications.service as service_module
    from onestop.workflows.contracts import NEWEST_BEHAVIOUR

    # An engine of a later release starts runs this worker does not know how to run.
    monkeypatch.setattr(service_module, "OUTBOX_BEHAVIOUR", NEWEST_BEHAVIOUR + 1)
    apps = apps_for(client, task_queue, database, licence_service())
    with pytest.raises((TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError)):
        await asyncio.wait_for(apps.start("citizen-1", ADULT, "renew-licence", fresh()), 3)
    for _ in range(50):  # visibility lags a little behind the start
        started = [w.id async for w in client.list_workflows(f'TaskQueue="{task_queue}"')]
        if started:
            break
        await asyncio.sleep(0.1)
    [application_id] = started
    handle = client.get_workflow_handle(application_id)
    try:
        events = (await handle.fetch_history()).events
        failures = [await client.data_converter.decode_failure(e.workflow_task_failed_event_attributes.failure)
                    for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        assert failures
        assert f"behaviour {NEWEST_BEHAVIOUR + 1} is newer than this worker knows" in str(failures[0])
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # retried, not failed
    finally:
        await handle.terminate("test over")


@pytest.mark.slow
async def test_an_unfinished_draft_expires_on_its_durable_timer(
    client: Client, task_queue: str, database: Database, worker: Worker
) -> None:
    apps = apps_for(client, task_queue, database, licence_service(draft_expiry_seconds=2))
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    assert view.status == "DRAFT"
    await until(lambda: _status_is(apps, view.application_id, "EXPIRED"), within=15)
    await until(lambda: _listed(apps, view.application_id))


async def _status_is(apps: ApplicationService, app: str, status: str) -> bool:
    return (await apps.get(app, "citizen-1")).status == status


async def _listed(apps: ApplicationService, app: str) -> bool:
    return app in [x.application_id for x in (await apps.list_for_citizen("citizen-1", status="EXPIRED")).entries]


class FlakyDepartment:
    """A department endpoint that answers 503 a few times, then 200, deduplicating on Idempotency-Key."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[str] = []
        self.accepted: dict[str, dict[str, str]] = {}

    async def receive(self, request: Request) -> Response:
        key = request.headers["idempotency-key"]
        self.attempts.append(key)
        if len(self.attempts) <= self.failures:
            return JSONResponse({"error": "maintenance"}, status_code=503)
        self.accepted.setdefault(key, await request.json())
        return JSONResponse({"ok": True})


@asynccontextmanager
async def _serving(receive: Callable[[Request], Awaitable[Response]]) -> AsyncIterator[str]:
    """A department endpoint on a real local port; its URL."""
    app = Starlette(routes=[Route("/submissions", receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/submissions"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyDepartment, str]]:
    department = FlakyDepartment(failures=2)
    async with _serving(department.receive) as url:
        yield department, url


@pytest.mark.slow
async def test_a_department_down_for_a_while_gets_the_submission_exactly_once(
    client: Client, task_queue: str, database: Database, worker: Worker, flaky: tuple[FlakyDepartment, str]
) -> None:
    department, url = flaky
    apps = apps_for(client, task_queue, database, licence_service(endpoint=url))
    app = await finish(apps)
    await until(lambda: _delivered(apps, app), within=30)
    assert department.attempts == [app, app, app]
    assert list(department.accepted) == [app]
    body = department.accepted[app]
    assert body["applicationId"] == app
    assert Signer(bytes(32)).verify_submission(body["jws"])["applicationId"] == app
    assert [i.application_id for i in await inbox(database, CIPHER, "TD")] == [app]


def _spawner(temporal_env: WorkflowEnvironment, task_queue: str, db_path: Path
             ) -> Callable[..., subprocess.Popen[bytes]]:
    address = temporal_env.client.service_client.config.target_host

    def spawn(mode: str = "fake") -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 - our own test helper
            [sys.executable, "-m", "tests.workflows.worker_process", address, task_queue, str(db_path), mode],
            cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        return process

    return spawn


class BrokenDepartment:
    """A department endpoint answering ``status`` to every delivery until it is repaired, then accepting once per
    Idempotency-Key."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.attempts: list[str] = []
        self.accepted: dict[str, dict[str, str]] = {}

    async def receive(self, request: Request) -> Response:
        key = request.headers["idempotency-key"]
        self.attempts.append(key)
        if self.status != 200:
            return JSONResponse({"error": "broken"}, status_code=self.status)
        if key in self.accepted:
            return JSONResponse({"error": "duplicate"}, status_code=409)
        self.accepted[key] = await request.json()
        return JSONResponse({"ok": True})


@pytest.fixture
async def broken() -> AsyncIterator[tuple[BrokenDepartment, str]]:
    department = BrokenDepartment(500)
    async with _serving(department.receive) as url:
        yield department, url


def _staff(*roles: str) -> Principal:
    return Principal(sub=f"td-{'-'.join(roles)}", kind="staff", acr="urn:onestop:acr:standard", amr=("pwd",),
                     auth_time=datetime.now(UTC), department="TD", roles=roles)


CASEWORKER = _staff("caseworker")
OPERATOR = _staff("operator")  # alone the role opens no inbox, yet it redelivers
DELIVERY_WINDOW = timedelta(seconds=4)


async def _staff_status_is(apps: ApplicationService, app: str, status: str) -> bool:
    return (await apps.get_for_staff(CASEWORKER, app)).status == status


@pytest.mark.slow
async def test_a_delivery_failing_past_its_window_waits_for_an_operator_and_the_citizen_sees_submitted(
    client: Client, task_queue: str, database: Database, worker: Worker, broken: tuple[BrokenDepartment, str]
) -> None:
    department, url = broken
    apps = ApplicationService(client, task_queue, database, {"renew-licence": licence_service(endpoint=url)}.get,
                              LADDER, delivery_retry=DELIVERY_WINDOW)
    app = await finish(apps)
    began = asyncio.get_running_loop().time()
    await until(lambda: _staff_status_is(apps, app, "DELIVERY_FAILED"), within=30)
    # Attempts at 0, 1 and 3 s (backoff from 1 s, doubling); the next would fall outside the 4 s window.
    assert 2 <= len(department.attempts) <= 4, department.attempts
    assert asyncio.get_running_loop().time() - began < 15
    staff_view = await apps.get_for_staff(CASEWORKER, app)
    assert staff_view.timeline[-1].status == "DELIVERY_FAILED"
    assert "500" in (staff_view.timeline[-1].message or "")
    inbox_page = await apps.department_inbox(CASEWORKER)
    assert [(e.application_id, e.status) for e in inbox_page.entries] == [(app, "DELIVERY_FAILED")]
    assert set(department.attempts) == {app}  # one Idempotency-Key for every attempt
    # The citizen sees "received, being processed": SUBMITTED, in the view, the timeline and the list.
    view = await apps.get(app, "citizen-1")
    assert view.status == "SUBMITTED"
    assert [t.status for t in view.timeline][-1] == "SUBMITTED"
    assert "DELIVERY_FAILED" not in [t.status for t in view.timeline]
    listed = await apps.list_for_citizen("citizen-1", status="SUBMITTED")
    assert [(e.application_id, e.status) for e in listed.entries] == [(app, "SUBMITTED")]
    assert (await apps.list_for_citizen("citizen-1", status="DELIVERY_FAILED")).entries == []
    # Staff cannot move on what the department never received.
    with pytest.raises(InvalidInput, match="delivery failed"):
        await apps.update_status(CASEWORKER, app, "IN_REVIEW")

    # A caseworker may not redeliver; once the endpoint is fixed an operator does, and it arrives exactly once.
    with pytest.raises(Forbidden, match="operator"):
        await apps.redeliver(CASEWORKER, app)
    with pytest.raises(Forbidden):
        await apps.department_inbox(OPERATOR)
    failed_attempts = len(department.attempts)
    department.status = 200
    redelivered = await apps.redeliver(OPERATOR, app, "redeliver-1")
    assert redelivered.status == "SUBMITTED"
    await until(lambda: _delivered(apps, app), within=15)
    assert len(department.attempts) == failed_attempts + 1
    assert list(department.accepted) == [app]
    citizen_view = await apps.get(app, "citizen-1")
    assert citizen_view.status == "SUBMITTED"
    # What arrives is the submission as the citizen made it, not stamped with the redelivery's time.
    signed = Signer(bytes(32)).verify_submission(department.accepted[app]["jws"])
    assert signed["submittedAt"] == next(t.at for t in citizen_view.timeline if t.status == "SUBMITTED").isoformat()
    with pytest.raises(InvalidInput, match="only an application whose delivery failed"):
        await apps.redeliver(OPERATOR, app, "redeliver-2")
    # The same client mutation id answers again without a second delivery.
    assert (await apps.redeliver(OPERATOR, app, "redeliver-1")).application_id == app
    await apps.update_status(CASEWORKER, app, "IN_REVIEW")
    assert len(department.attempts) == failed_attempts + 1


@pytest.mark.slow
async def test_a_delivery_the_department_refuses_for_good_fails_after_one_attempt(
    client: Client, task_queue: str, database: Database, worker: Worker, broken: tuple[BrokenDepartment, str]
) -> None:
    department, url = broken
    department.status = 400
    apps = ApplicationService(client, task_queue, database, {"renew-licence": licence_service(endpoint=url)}.get,
                              LADDER, delivery_retry=timedelta(hours=1))
    app = await finish(apps)
    await until(lambda: _staff_status_is(apps, app, "DELIVERY_FAILED"), within=15)
    assert department.attempts == [app]
    assert (await apps.get(app, "citizen-1")).status == "SUBMITTED"


@pytest.mark.slow
async def test_killing_the_worker_mid_application_loses_nothing(
    temporal_env: WorkflowEnvironment, client: Client, tmp_path: Path
) -> None:
    db_path = tmp_path / "crash.db"
    database = Database(f"sqlite+aiosqlite:///{db_path}")
    await database.create_all()
    task_queue = f"crash-{uuid.uuid4()}"
    spawn = _spawner(temporal_env, task_queue, db_path)
    apps = apps_for(client, task_queue, database, licence_service())
    first = spawn()
    try:
        view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
        app = view.application_id
        await apps.grant_consent(app, "citizen-1", "prefill")
        await apps.grant_consent(app, "citizen-1", "terms")
        await apps.submit_step(app, "citizen-1", "applicant",
                               {"name": "CHAN Tai Man", "hkid": "A123456(3)", "years": 3, "licenceClass": "1"})
    finally:
        _kill(first)
    second = spawn()
    try:
        view = await apps.submit_step(app, "citizen-1", "details", {"startDate": "2099-01-01"})
        assert view.current_step_id == "verify"
        assert view.answers["years"] == 3
        assert view.answers["hkid"] == "A123456(3)"
        assert view.completed == ["prefill", "terms", "applicant", "details"]
    finally:
        _kill(second)
        await database.close()


@pytest.mark.slow
async def test_a_prefill_on_a_killed_worker_is_retried_in_seconds_and_logged_once(
    temporal_env: WorkflowEnvironment, client: Client, tmp_path: Path
) -> None:
    db_path = tmp_path / "crash.db"
    database = Database(f"sqlite+aiosqlite:///{db_path}")
    await database.create_all()
    data = worker_process.data_services(database)
    await data.profiles.update("sub-crash", {"nameEn": "CHAN Tai Man", "hkid": "A123456(3)"})
    citizen = await data.citizens.ensure("sub-crash")
    registry = data.providers.get("td-licensing")
    assert isinstance(registry, SqlRegistryProvider)
    await registry.put(citizen.id, "driving-licence", {"number": "DL123"}, datetime.now(UTC))
    service = licence_service()
    prefill = service.steps[0]
    assert isinstance(prefill, PrefillSpec)
    service = replace(service, steps=[replace(prefill, items=[*prefill.items, "td-licensing.driving-licence"]),
                                      *service.steps[1:]])
    task_queue = f"crash-{uuid.uuid4()}"
    spawn = _spawner(temporal_env, task_queue, db_path)
    apps = apps_for(client, task_queue, database, service)
    first = spawn("gateway-hang")
    second = None
    try:
        view = await apps.start(citizen.ref, ADULT, "renew-licence", fresh())
        app = view.application_id
        grant = asyncio.create_task(apps.grant_consent(app, citizen.ref, "prefill"))
        assert first.stdout is not None
        # The first attempt has read the data and logged it; the worker dies before it can report.
        assert await asyncio.to_thread(first.stdout.readline) == b"fetched\n"
        _kill(first)
        second = spawn("gateway")
        began = asyncio.get_running_loop().time()
        view = await asyncio.wait_for(grant, timeout=60)
        waited = asyncio.get_running_loop().time() - began
        # Before heartbeats the retry waited out the 30 s start-to-close timeout.
        assert waited < 10, f"the grant completed {waited:.1f} s after the new worker started"
        assert view.completed == ["prefill"]
        assert view.prefilled["name"].value == "CHAN Tai Man"
        entries = (await data.access_log.list("sub-crash")).entries
        assert sorted(e.provider_id for e in entries if e.application_id == app) == ["eme", "td-licensing"]
        assert {e.outcome for e in entries} == {"allowed"}
        assert len(await data.consents.list("sub-crash")) == 1
        assert await data.access_log.verify_chain(citizen.id) == 2
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                _kill(process)
        await database.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


async def test_history_stays_small_per_citizen_action(
    client: Client, task_queue: str, database: Database, worker: Worker
) -> None:
    apps = apps_for(client, task_queue, database, licence_service())
    app = await finish(apps)
    await until(lambda: _delivered(apps, app))
    events = (await client.get_workflow_handle(app).fetch_history()).events
    # An accepted Update costs 5 events (its workflow task's 3, accepted, completed); an activity 3 plus its
    # task; local activities and patches one marker each; the rest is start, timer and search attributes.
    updates, activities, markers, overhead = 8, 2, 4, 10
    assert len(events) <= 5 * updates + 4 * activities + markers + overhead, len(events)
