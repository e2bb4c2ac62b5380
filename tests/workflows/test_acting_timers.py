"""Acting for someone ends by a durable timer (the child's 18th birthday, the mandate's end) or at once (a revoked
mandate): the application in progress becomes the subject's, or is closed as the service declares. Time runs on
Temporal's time-skipping test server, so a birthday years away is reached in seconds, and a worker that was stopped
meanwhile is replaced by a new one that carries on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from onestop.engine import temporal
from onestop.engine.applications.activities import ApplicationActivities
from onestop.engine.applications.service import ApplicationService
from onestop.engine.crypto.codec import data_converter
from onestop.engine.data.profiles import Citizen
from onestop.engine.db import ApplicationRow, Database
from onestop.engine.errors import NotFound
from onestop.engine.relationships import Acting, ActingAs
from onestop.engine.relationships.births import comes_of_age
from onestop.engine.temporal import build_worker
from onestop.workflows.contracts import SEARCH_ATTRIBUTES, ActingEnd, ActingTerm, ApplicationView, Status
from onestop.workflows.snapshot import FieldSpec, FormSpec, ServiceSnapshot, SubmitSpec

from .conftest import CODEC_KEY, text
from .test_application import ADULT, LADDER

PARENT = Citizen(id="parent-id", sub="parent-sub", ref="parent-ref")
CHILD = Citizen(id="child-id", sub="child-sub", ref="child-ref")
GRANTOR = Citizen(id="grantor-id", sub="grantor-sub", ref="grantor-ref")
CARER = Citizen(id="carer-id", sub="carer-sub", ref="carer-ref")


def school_service() -> ServiceSnapshot:
    """A form about the child, then submit: long-lived drafts, so a birthday weeks away falls inside one."""
    return ServiceSnapshot(
        id="school-place",
        version=1,
        content_hash="hash-school",
        department="EDB",
        title=text("Apply for a school place"),
        draft_expiry_seconds=90 * 86400,
        steps=[
            FormSpec(
                id="child",
                title=text("About the child"),
                fields=[FieldSpec(id="school", type="text", label=text("Preferred school"), required=True)],
            ),
            FormSpec(
                id="contact", title=text("Contact"), fields=[FieldSpec(id="phone", type="phone", label=text("Phone"))]
            ),
            SubmitSpec(id="submit", title=text("Submit")),
        ],
    )


# One test server per test: a workflow left behind with no worker for its queue would keep the server from skipping.
@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(temporal.test_server_binary()))
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES},
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def skipping_client(skipping: WorkflowEnvironment) -> Client:
    config = skipping.client.config()
    config["data_converter"] = data_converter(CODEC_KEY)
    return Client(**config)


@pytest.fixture
def queue() -> str:
    return f"acting-{uuid.uuid4()}"


def new_worker(client: Client, queue: str, activities: ApplicationActivities, **options: Any) -> Worker:
    return build_worker(client, queue, activities.all(), **options)


@pytest.fixture
async def skipping_worker(
    skipping_client: Client, queue: str, activities: ApplicationActivities
) -> AsyncIterator[Worker]:
    async with new_worker(skipping_client, queue, activities) as worker:
        yield worker


def service(client: Client, queue: str, database: Database) -> ApplicationService:
    return ApplicationService(client, queue, database, {"school-place": school_service()}.get, LADDER)


async def started(apps: ApplicationService, acting: Acting) -> ApplicationView:
    view = await apps.start(acting.actor.ref, ADULT, "school-place", uuid.uuid4().hex, acting=acting)
    return await apps.submit_step(view.application_id, acting.actor.ref, "child", {"school": "St Paul's"})


def parent_for(turns_18: datetime, on_end: str = "move") -> Acting:
    return Acting(PARENT, CHILD, ActingAs.PARENT, until=turns_18, on_end=on_end)


async def owner_in_index(database: Database, app: str) -> str:
    async with database.session() as session:
        return str(await session.scalar(select(ApplicationRow.citizen_ref).where(ApplicationRow.application_id == app)))


def test_the_18th_birthday_is_the_start_of_the_day_and_1_march_for_a_leap_day_child() -> None:
    assert comes_of_age(date(2010, 6, 15)) == datetime(2028, 6, 15, tzinfo=UTC)
    assert comes_of_age(date(2008, 2, 29)) == datetime(2026, 3, 1, tzinfo=UTC)


async def test_the_childs_18th_birthday_hands_the_draft_to_the_new_adult_on_the_day(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    now = await skipping.get_current_time()
    view = await started(apps, parent_for(now + timedelta(days=20)))
    app = view.application_id

    await skipping.sleep(timedelta(days=19, hours=23))  # the day before: still the parent's
    assert (await apps.get(app, PARENT.ref)).status is Status.DRAFT
    with pytest.raises(NotFound):
        await apps.get(app, CHILD.ref)

    await skipping.sleep(timedelta(hours=2))  # past midnight of the birthday
    with pytest.raises(NotFound):
        await apps.get(app, PARENT.ref)
    theirs = await apps.get(app, CHILD.ref)
    assert theirs.status is Status.DRAFT
    assert theirs.answers["school"] == "St Paul's"  # the draft is kept, as it was
    assert "turned 18" in (theirs.timeline[-1].message or "")
    handed = theirs.timeline[-1].at
    assert now + timedelta(days=20) <= handed < now + timedelta(days=20, hours=2)
    assert await owner_in_index(database, app) == CHILD.ref  # "my applications" lists it for them now
    # The new adult carries on and submits it themself.
    await apps.submit_step(app, CHILD.ref, "contact", {"phone": "91234567"})
    assert (await apps.submit_step(app, CHILD.ref, "submit", {})).status is Status.SUBMITTED


async def test_the_birthday_timer_fires_for_a_new_worker_after_the_old_one_stopped(
    skipping: WorkflowEnvironment,
    skipping_client: Client,
    queue: str,
    database: Database,
    activities: ApplicationActivities,
) -> None:
    apps = service(skipping_client, queue, database)
    # Nothing cached, so no sticky queue: the test server would hold the timer's task for the stopped worker.
    async with new_worker(skipping_client, queue, activities, max_cached_workflows=0):
        now = await skipping.get_current_time()
        app = (await started(apps, parent_for(now + timedelta(days=3)))).application_id
    # The worker that set the timer is gone: the timer is the server's, and a new worker (with nothing cached)
    # rebuilds the application from its history when it fires.
    async with new_worker(skipping_client, queue, activities):
        await skipping.sleep(timedelta(days=4))
        theirs = await apps.get(app, CHILD.ref)
        assert "turned 18" in (theirs.timeline[-1].message or "")
        with pytest.raises(NotFound):
            await apps.get(app, PARENT.ref)


async def test_a_service_that_closes_on_the_birthday_closes_the_draft_for_the_new_adult(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    now = await skipping.get_current_time()
    app = (await started(apps, parent_for(now + timedelta(days=2), on_end="close"))).application_id
    await skipping.sleep(timedelta(days=3))
    await skipping_client.get_workflow_handle(app).result()  # closed: the workflow has ended
    theirs = await apps.get(app, CHILD.ref)
    assert theirs.status is Status.WITHDRAWN
    assert "the draft was closed" in (theirs.timeline[-1].message or "")


async def test_a_submitted_application_moves_to_the_new_adult_to_receive_the_decision(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    now = await skipping.get_current_time()
    acting = parent_for(now + timedelta(days=5), on_end="close")
    app = (await started(apps, acting)).application_id
    await apps.submit_step(app, PARENT.ref, "contact", {})
    await apps.submit_step(app, PARENT.ref, "submit", {})
    await skipping.sleep(timedelta(days=6))
    theirs = await apps.get(app, CHILD.ref)
    assert theirs.status is Status.SUBMITTED  # "close" is for drafts: the department already has it
    assert await owner_in_index(database, app) == CHILD.ref


async def test_a_mandate_ends_on_its_date_and_the_grantor_gets_the_draft(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    now = await skipping.get_current_time()
    until = now + timedelta(days=10)
    app = (await started(apps, Acting(CARER, GRANTOR, ActingAs.MANDATE, "mandate-1", until=until))).application_id
    await skipping.sleep(timedelta(days=9))
    assert (await apps.get(app, CARER.ref)).status is Status.DRAFT
    await skipping.sleep(timedelta(days=2))
    theirs = await apps.get(app, GRANTOR.ref)
    assert "mandate it was started under has ended" in (theirs.timeline[-1].message or "")
    with pytest.raises(NotFound):
        await apps.get(app, CARER.ref)


async def test_a_revoked_mandate_hands_the_draft_to_the_grantor_at_once_and_not_again_at_its_end(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    now = await skipping.get_current_time()
    app = (
        await started(apps, Acting(CARER, GRANTOR, ActingAs.MANDATE, "mandate-2", until=now + timedelta(days=60)))
    ).application_id
    await apps.end_acting([app, "no-such-application"], ActingEnd.REVOKED)
    theirs = await apps.get(app, GRANTOR.ref)
    assert "was revoked" in (theirs.timeline[-1].message or "")
    entries = len(theirs.timeline)
    await skipping.sleep(timedelta(days=61))  # the mandate's own end passes: nothing more happens
    assert len((await apps.get(app, GRANTOR.ref)).timeline) == entries
    await apps.end_acting([app])  # a second revocation signal changes nothing either
    assert len((await apps.get(app, GRANTOR.ref)).timeline) == entries


def patch_markers(events: list[HistoryEvent]) -> list[str]:
    return [
        e.marker_recorded_event_attributes.marker_name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def test_only_an_application_acted_for_someone_else_records_the_acting_patch(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    own = await apps.start(
        PARENT.ref, ADULT, "school-place", uuid.uuid4().hex, acting=Acting(PARENT, PARENT, ActingAs.SELF)
    )
    now = await skipping.get_current_time()
    acted = await started(apps, parent_for(now + timedelta(days=30)))
    events = (await skipping_client.get_workflow_handle(own.application_id).fetch_history()).events
    assert patch_markers(list(events)) == []  # every application not acted for records what it always did
    events = (await skipping_client.get_workflow_handle(acted.application_id).fetch_history()).events
    assert patch_markers(list(events)) == ["core_patch"]


WARD = Citizen(id="ward-id", sub="ward-sub", ref="ward-ref")
GUARDIAN = Citizen(id="guardian-id", sub="guardian-sub", ref="guardian-ref")


def guardian_for(until: datetime | None = None, on_end: str = "move") -> Acting:
    return Acting(GUARDIAN, WARD, ActingAs.GUARDIAN, until=until, on_end=on_end)


async def test_a_guardianship_ends_on_its_date_and_the_ward_gets_the_draft(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    apps = service(skipping_client, queue, database)
    now = await skipping.get_current_time()
    app = (await started(apps, guardian_for(now + timedelta(days=30)))).application_id
    await skipping.sleep(timedelta(days=29))
    assert (await apps.get(app, GUARDIAN.ref)).status is Status.DRAFT
    with pytest.raises(NotFound):
        await apps.get(app, WARD.ref)
    await skipping.sleep(timedelta(days=2))
    theirs = await apps.get(app, WARD.ref)
    assert theirs.status is Status.DRAFT
    assert theirs.answers["school"] == "St Paul's"
    assert theirs.timeline[-1].message == (
        "The guardianship it was started under has ended: it is now the ward's to continue"
    )
    assert now + timedelta(days=30) <= theirs.timeline[-1].at < now + timedelta(days=31)
    assert await owner_in_index(database, app) == WARD.ref
    with pytest.raises(NotFound):
        await apps.get(app, GUARDIAN.ref)


async def test_an_end_date_given_later_sets_the_timer_of_an_application_that_had_none(
    skipping: WorkflowEnvironment, skipping_client: Client, queue: str, database: Database, skipping_worker: Worker
) -> None:
    # A guardianship with no end date: the application starts with no term, as every application started before
    # terms existed did. SWD then gives the guardianship an end date, and the engine tells the application.
    apps = service(skipping_client, queue, database)
    app = (await started(apps, guardian_for())).application_id
    now = await skipping.get_current_time()
    await apps.set_acting_term({app: ActingTerm(WARD.ref, now + timedelta(days=10), ActingEnd.GUARDIANSHIP)})
    # Moved earlier again (SWD corrects the date): the timer follows the newest end.
    await apps.set_acting_term({app: ActingTerm(WARD.ref, now + timedelta(days=6), ActingEnd.GUARDIANSHIP)})
    # A term naming someone else (a stale or wrong signal) changes nothing.
    await apps.set_acting_term({app: ActingTerm(CHILD.ref, now + timedelta(days=1), ActingEnd.ADULT)})
    await skipping.sleep(timedelta(days=5))
    assert (await apps.get(app, GUARDIAN.ref)).status is Status.DRAFT
    await skipping.sleep(timedelta(days=2))
    theirs = await apps.get(app, WARD.ref)
    assert "guardianship it was started under has ended" in (theirs.timeline[-1].message or "")
    with pytest.raises(NotFound):
        await apps.get(app, GUARDIAN.ref)
    with pytest.raises(NotFound):
        await apps.get(app, CHILD.ref)


@pytest.mark.parametrize(
    ("acting", "reason", "on_end"),
    [
        (guardian_for(), ActingEnd.GUARDIANSHIP, "close"),
        (Acting(CARER, GRANTOR, ActingAs.MANDATE, "mandate-old"), ActingEnd.REVOKED, "move"),
    ],
)
async def test_an_application_with_no_term_is_handed_over_when_the_right_ends_now(
    skipping: WorkflowEnvironment,
    skipping_client: Client,
    queue: str,
    database: Database,
    skipping_worker: Worker,
    acting: Acting,
    reason: ActingEnd,
    on_end: str,
) -> None:
    # Started with no term (before terms existed, or a guardianship with no end date): the end signal names the
    # subject and what the service declares, and the application is handed over (or closed) all the same.
    apps = service(skipping_client, queue, database)
    app = (await started(apps, acting)).application_id
    subject, actor = acting.subject.ref, acting.actor.ref
    # As before: a signal without the subject reaches only applications with a term.
    await apps.end_acting([app], reason)
    assert (await apps.get(app, actor)).status is Status.DRAFT
    await apps.end_acting([app, "no-such-application"], reason, subject_ref=subject, on_end={app: on_end})
    theirs = await apps.get(app, subject)
    with pytest.raises(NotFound):
        await apps.get(app, actor)
    if on_end == "close":
        assert theirs.status is Status.WITHDRAWN
        assert "the draft was closed" in (theirs.timeline[-1].message or "")
    else:
        assert theirs.status is Status.DRAFT
        assert "was revoked" in (theirs.timeline[-1].message or "")
    entries = len(theirs.timeline)
    await apps.end_acting([app], reason, subject_ref=subject)  # again: nothing more happens
    assert len((await apps.get(app, subject)).timeline) == entries
