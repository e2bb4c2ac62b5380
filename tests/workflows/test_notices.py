"""Notices from the workflow: one per event and revision, handed to the engine's outbox by a local activity the run
makes anyway (or by a send_notice activity, in runs started before the outbox), carrying only what the templates
name; a durable timer reminds before a draft expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from onestop.engine.applications.activities import ApplicationActivities
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.applications.service import ApplicationService
from onestop.engine.crypto.signing import Signer
from onestop.engine.db import Database
from onestop.engine.notices import Outbox
from onestop.engine.temporal import build_worker
from onestop.workflows.contracts import DepartmentStatus, NoticeRequest, NoticeResult
from onestop.workflows.snapshot import ComputedSpec, NoticeSpec, ServiceSnapshot

from .conftest import CIPHER, FakeGateway, licence_service, text
from .test_application import ADULT, LADDER, face, fresh, through_details


@dataclass
class Recorder:
    """Stands in for the engine's NoticeService: what the workflow asked to send."""

    sent: list[NoticeRequest] = field(default_factory=list)

    async def send(self, request: NoticeRequest) -> NoticeResult:
        self.sent.append(request)
        return NoticeResult(request.key, {"email": "sent"})

    async def enqueue(self, requests: list[NoticeRequest]) -> None:
        # The outbox (runs started with OUTBOX_BEHAVIOUR): once per key, as the engine's outbox keeps them.
        self.sent += [r for r in requests if r.key not in {s.key for s in self.sent}]

    async def recipients(self, session: object, requests: list[NoticeRequest]) -> list[None]:
        return [None for _ in requests]  # read before the transaction writes; nobody here to read

    async def write(self, session: object, requests: list[NoticeRequest], recipients: object = None, *,
                    ends_transaction: bool = False) -> Outbox:
        # The outbox as the activities write it, in their own transaction.
        await self.enqueue(requests)
        return Outbox()

    def dispatch(self, outbox: Outbox) -> None:
        pass

    def events(self) -> list[str]:
        return [request.event for request in self.sent]


def notices(before_seconds: int | None = None) -> list[NoticeSpec]:
    def spec(event: str, body: str, before: int | None = None) -> NoticeSpec:
        return NoticeSpec(event, text(f"{event} {{reference}}"), text(body), text("sms {reference}"), before)

    return [spec("submitted", "Received {reference} for {service}: {fee}"),
            spec("statusChanged", "Now {status}"), spec("informationNeeded", "Sign in and reply"),
            spec("draftExpiring", "Expires {expiresOn}", before_seconds)]


def noticed_service(**kwargs: object) -> ServiceSnapshot:
    return replace(licence_service(**kwargs),  # type: ignore[arg-type]
                   computed=[ComputedSpec("fee", '"HK$" + string(answers.years * 100)')],
                   notices=notices(2))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def noticing_worker(client: Client, task_queue: str, database: Database, gateway: FakeGateway,
                          recorder: Recorder) -> AsyncIterator[Worker]:
    async with DeliveryClient(timeout=5) as http:
        activities = ApplicationActivities(database=database, signer=Signer(bytes(32)), prefill_port=gateway,
                                           http=http, cipher=CIPHER, notices=recorder)  # type: ignore[arg-type]
        async with build_worker(client, task_queue, activities.all()) as worker:
            yield worker


async def until(predicate: object, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_submission_and_each_department_decision_send_one_notice_each_without_answers(
        client: Client, task_queue: str, database: Database, noticing_worker: Worker, recorder: Recorder) -> None:
    apps = ApplicationService(client, task_queue, database, {"renew-licence": noticed_service()}.get, LADDER)
    view = await through_details(apps)
    app = view.application_id
    await apps.complete_step_up(app, face(app), "citizen-1", "verify")
    await apps.submit_step(app, "citizen-1", "review", {"declare": True})
    submitted = await apps.submit_step(app, "citizen-1", "submit", {})
    await until(lambda: recorder.events() == ["submitted"])
    [receipt] = recorder.sent
    assert receipt.reference_number == submitted.reference_number
    assert receipt.values == {"fee": "HK$500"}  # the computed value its template names, and nothing else
    assert receipt.key == f"{app}/submitted/{len(submitted.timeline)}"
    for answer in ("CHAN Tai Man", "A123456", "AB123", "2099-01-01"):
        assert answer not in repr(receipt)

    handle = client.get_workflow_handle(app)
    await handle.signal("departmentStatus", DepartmentStatus("NEEDS_INFO", "Send a photo of A123456(3)", "staff-1"))
    await until(lambda: recorder.events() == ["submitted", "informationNeeded"])
    assert "A123456" not in repr(recorder.sent[1])  # the department's message stays on the timeline
    await handle.signal("departmentStatus", DepartmentStatus("APPROVED", None, "staff-1"))
    await handle.result()
    assert recorder.events() == ["submitted", "informationNeeded", "statusChanged"]
    assert recorder.sent[2].values == {"status": "APPROVED"}
    assert len({request.key for request in recorder.sent}) == 3


@pytest.mark.slow
async def test_a_durable_timer_reminds_once_before_a_draft_expires(
        client: Client, task_queue: str, database: Database, noticing_worker: Worker, recorder: Recorder) -> None:
    service = noticed_service(draft_expiry_seconds=5)
    apps = ApplicationService(client, task_queue, database, {"renew-licence": service}.get, LADDER)
    view = await apps.start("citizen-1", ADULT, "renew-licence", fresh())
    await until(lambda: recorder.events() == ["draftExpiring"], within=10)
    [reminder] = recorder.sent
    assert reminder.reference_number is None
    assert reminder.values["expiresOn"].endswith("HKT")
    await client.get_workflow_handle(view.application_id).result()
    assert (await apps.get(view.application_id, "citizen-1")).status == "EXPIRED"
    assert recorder.events() == ["draftExpiring"]


async def test_a_service_pinned_without_notices_sends_none(
        client: Client, task_queue: str, database: Database, noticing_worker: Worker, recorder: Recorder) -> None:
    apps = ApplicationService(client, task_queue, database, {"renew-licence": licence_service()}.get, LADDER)
    view = await through_details(apps)
    app = view.application_id
    await apps.complete_step_up(app, face(app), "citizen-1", "verify")
    await apps.submit_step(app, "citizen-1", "review", {"declare": True})
    await apps.submit_step(app, "citizen-1", "submit", {})
    await client.get_workflow_handle(app).signal("departmentStatus", DepartmentStatus("APPROVED", None, "s"))
    await client.get_workflow_handle(app).result()
    assert recorder.sent == []


@pytest.mark.slow
async def test_an_anonymous_applicant_without_a_contact_is_sent_nothing(
        client: Client, task_queue: str, database: Database, noticing_worker: Worker, recorder: Recorder) -> None:
    service = replace(noticed_service(draft_expiry_seconds=4), eligibility_when=None)
    apps = ApplicationService(client, task_queue, database, {"renew-licence": service}.get, LADDER)
    anonymous = replace(ADULT, age=None, age_group=None, logged_in=False)
    view = await apps.start("anon-1", anonymous, "renew-licence", fresh())
    await client.get_workflow_handle(view.application_id).result()
    assert recorder.sent == []


async def test_notices_ride_on_local_activities_the_run_makes_anyway(
        client: Client, task_queue: str, database: Database, noticing_worker: Worker, recorder: Recorder) -> None:
    from temporalio.api.enums.v1 import EventType

    apps = ApplicationService(client, task_queue, database, {"renew-licence": noticed_service()}.get, LADDER)
    view = await through_details(apps)
    app = view.application_id
    await apps.complete_step_up(app, face(app), "citizen-1", "verify")
    await apps.submit_step(app, "citizen-1", "review", {"declare": True})
    await apps.submit_step(app, "citizen-1", "submit", {})
    assert recorder.events() == ["submitted"]  # in the outbox when the submit answers: it rode on the reference
    handle = client.get_workflow_handle(app)
    await handle.signal("departmentStatus", DepartmentStatus("APPROVED", None, "staff-1"))
    await handle.result()
    assert recorder.events() == ["submitted", "statusChanged"]
    events = (await handle.fetch_history()).events
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    markers = [e.marker_recorded_event_attributes.marker_name for e in events
               if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert scheduled == ["onestop.deliver_submission"]  # no send_notice activity
    # Prefill, the reference (with the receipt notice), the approval's index entry with its notice: no patch marker.
    assert markers == ["core_local_activity"] * 3
