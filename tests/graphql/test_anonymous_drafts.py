"""An anonymous start costs one database row and no workflow until the citizen first acts on the draft.

Real pieces: the seed catalogue, a real Temporal dev server (its visibility store counts the workflows), a worker
with the engine's activities, the database the drafts live in, and the Starlette app over HTTP (httpx + ASGI).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from client import Api
from running import running_seed
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from test_applications_anonymous import ENQUIRY, GET, START, SUBMIT, WITHDRAW, enquiry_answers, resume

from onestop.engine.applications.drafts import DraftStore
from onestop.engine.applications.service import ApplicationService
from onestop.engine.container import Engine
from onestop.engine.db import AnonymousDraftRow
from onestop.engine.errors import InvalidInput
from onestop.graphql.relay import from_global_id
from onestop.workflows.contracts import ApplicationView, TimelineEntry
from onestop.workflows.interpreter import Applicant, DefinitionFault
from onestop.workflows.opening import expired_view, opening_view

FULL = """query($id: ID!) { application(id: $id) {
  id status serviceSlug referenceNumber definitionVersion definitionHash department answers delivered
  exitMessage createdAt updatedAt
  currentStep { id type title description fields { id type label required options { value } } }
  steps { id type title state }
  computed { name value text }
  provenance { field source }
  timeline { at status message author }
} }"""


running, engine, api = running_seed("drafts-data", isolated=True, anonymous_starts_per_hour_per_ip=10_000,
                                     anonymous_starts_per_hour_per_service=10_000)


def service_of(engine: Engine) -> ApplicationService:
    assert isinstance(engine.applications, ApplicationService)
    return engine.applications


def key_of(global_id: str) -> str:
    parsed = from_global_id(global_id)
    assert parsed is not None
    return parsed[1]


async def start(api: Api) -> tuple[dict[str, Any], str]:
    payload = (await api.data(START, {"slug": ENQUIRY}))["startApplication"]
    assert payload["userErrors"] == []
    return payload["application"], payload["resumeToken"]


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def runs_of(client: Client, workflow_id: str) -> int:
    return len([e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


async def drafts_in_database(engine: Engine) -> int:
    async with engine.database.session() as session:
        return int((await session.execute(select(func.count()).select_from(AnonymousDraftRow))).scalar_one())


async def test_300_anonymous_starts_create_no_workflow(api: Api, engine: Engine) -> None:
    client = service_of(engine).client
    queue = engine.settings.temporal_task_queue
    before = await client.count_workflows(f"TaskQueue = '{queue}'")
    drafts_before = await drafts_in_database(engine)

    started: list[dict[str, Any]] = []
    for _ in range(15):  # 300 starts, 20 at a time
        started += [application for application, _token in await asyncio.gather(*(start(api) for _ in range(20)))]

    assert len({a["id"] for a in started}) == 300
    assert {(a["status"], a["currentStep"]["id"]) for a in started} == {("DRAFT", "enquiry")}
    await asyncio.sleep(1)  # visibility is eventually consistent: give a stray start the time to show
    assert (await client.count_workflows(f"TaskQueue = '{queue}'")).count == before.count
    existing = await asyncio.gather(*(workflow_exists(client, key_of(a["id"])) for a in started))
    assert not any(existing)
    assert await drafts_in_database(engine) == drafts_before + 300


async def test_a_draft_answers_queries_as_its_workflow_would_and_resumes_by_token(api: Api, engine: Engine) -> None:
    started, token = await start(api)
    app_id = started["id"]
    seen = (await api.data(FULL, {"id": app_id}, resume(token)))["application"]
    assert not await workflow_exists(service_of(engine).client, key_of(app_id))
    assert seen["status"] == "DRAFT"
    assert seen["currentStep"]["id"] == "enquiry"
    assert [s["state"] for s in seen["steps"]][:1] == ["CURRENT"]
    assert seen["timeline"][0]["status"] == "DRAFT"
    assert seen["createdAt"] == seen["timeline"][0]["at"]

    # The first answer starts the workflow; what the citizen saw before stays as it was.
    moved = (await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": enquiry_answers(seen)},
                            resume(token)))["submitStep"]
    assert moved["userErrors"] == []
    assert moved["application"]["currentStep"]["id"] == "send"
    assert await workflow_exists(service_of(engine).client, key_of(app_id))
    after = (await api.data(FULL, {"id": app_id}, resume(token)))["application"]
    assert after["createdAt"] == seen["createdAt"]
    assert after["timeline"][0] == seen["timeline"][0]
    assert (after["definitionVersion"], after["definitionHash"]) == (seen["definitionVersion"],
                                                                     seen["definitionHash"])
    assert after["currentStep"]["id"] == "send"
    async with engine.database.session() as session:
        assert await session.get(AnonymousDraftRow, key_of(app_id)) is None


async def test_concurrent_first_answers_start_exactly_one_workflow(api: Api, engine: Engine) -> None:
    started, token = await start(api)
    app_id = started["id"]
    answers = enquiry_answers(started)
    results = await asyncio.gather(*(
        api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": answers}, resume(token)) for _ in range(8)))
    payloads = [r["submitStep"] for r in results]
    accepted = [p for p in payloads if not p["userErrors"]]
    assert len(accepted) >= 1
    # The others found the step already answered, as concurrent answers to a running workflow do.
    assert {e["code"] for p in payloads for e in p["userErrors"]} <= {"NOT_CURRENT_STEP"}
    client = service_of(engine).client
    for _ in range(50):  # visibility catches up
        if await runs_of(client, key_of(app_id)):
            break
        await asyncio.sleep(0.1)
    assert await runs_of(client, key_of(app_id)) == 1
    seen = (await api.data(GET, {"id": app_id}, resume(token)))["application"]
    assert seen["currentStep"]["id"] == "send"


async def test_someone_elses_token_finds_nothing_and_starts_no_workflow(api: Api, engine: Engine) -> None:
    started, _token = await start(api)
    _, other = await start(api)
    app_id = started["id"]
    assert (await api.data(GET, {"id": app_id}, resume(other)))["application"] is None
    refused = (await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": enquiry_answers(started)},
                              resume(other)))["submitStep"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    withdrawn = (await api.data(WITHDRAW, {"id": app_id}, resume(other)))["withdrawApplication"]
    assert [e["code"] for e in withdrawn["userErrors"]] == ["NOT_FOUND"]
    assert not await workflow_exists(service_of(engine).client, key_of(app_id))


async def test_withdrawing_an_unanswered_draft_closes_it_for_good(api: Api, engine: Engine) -> None:
    started, token = await start(api)
    app_id = started["id"]
    withdrawn = (await api.data(WITHDRAW, {"id": app_id}, resume(token)))["withdrawApplication"]
    assert withdrawn["userErrors"] == []
    assert withdrawn["application"]["status"] == "WITHDRAWN"
    again = (await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": enquiry_answers(started)},
                            resume(token)))["submitStep"]
    assert [e["code"] for e in again["userErrors"]] == ["APPLICATION_CLOSED"]
    assert (await api.data(GET, {"id": app_id}, resume(token)))["application"]["status"] == "WITHDRAWN"


async def test_the_draft_row_holds_no_clear_payload(api: Api, engine: Engine) -> None:
    started, token = await start(api)
    async with engine.database.session() as session:
        row = await session.get(AnonymousDraftRow, key_of(started["id"]))
    assert row is not None
    assert row.payload.startswith("v1.")
    assert "logged_in" not in row.payload
    assert "citizen" not in row.payload
    assert token not in (row.payload + row.citizen_ref)
    assert row.citizen_ref.startswith("anon-")


async def test_stale_unanswered_drafts_expire(api: Api, engine: Engine) -> None:
    started, token = await start(api)
    app_id = started["id"]
    drafts = service_of(engine).drafts
    assert drafts is not None
    assert drafts.ttl == timedelta(seconds=engine.settings.anonymous_draft_ttl_seconds)
    later = datetime.now(UTC) + drafts.ttl + timedelta(seconds=1)
    assert await drafts.get(key_of(app_id), now=later) is None  # expired reads as gone, swept or not
    assert await drafts.purge(now=later) >= 1
    assert (await api.data(GET, {"id": app_id}, resume(token)))["application"] is None
    refused = (await api.data(SUBMIT, {"id": app_id, "step": "enquiry", "answers": enquiry_answers(started)},
                              resume(token)))["submitStep"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    assert not await workflow_exists(service_of(engine).client, key_of(app_id))


async def backdate(engine: Engine, application_id: str, by: timedelta) -> None:
    """As if the draft had been started ``by`` earlier (its expiry moves with it)."""
    async with engine.database.session() as session:
        row = await session.get(AnonymousDraftRow, key_of(application_id))
        assert row is not None
        row.created_at, row.expires_at = row.created_at - by, row.expires_at - by


async def test_a_draft_past_its_services_draft_expiry_reads_as_expired_and_refuses_actions(
        api: Api, engine: Engine) -> None:
    started, token = await start(api)
    app_id = started["id"]
    drafts = service_of(engine).drafts
    assert drafts is not None
    draft_expiry = timedelta(days=1)  # the enquiry's draftExpiry, sooner than the drafts' time to live
    assert draft_expiry < drafts.ttl
    await backdate(engine, app_id, draft_expiry + timedelta(minutes=1))

    seen = (await api.data(FULL, {"id": app_id}, resume(token)))["application"]
    assert seen["status"] == "EXPIRED"
    assert seen["currentStep"] is None
    assert [t["status"] for t in seen["timeline"]] == ["DRAFT", "EXPIRED"]
    assert [s["state"] for s in seen["steps"]][:1] == ["TODO"]
    # What a closed workflow answers: the step cannot change, and an expired application is not withdrawable.
    for mutation, variables, name, code in [
            (SUBMIT, {"id": app_id, "step": "enquiry", "answers": enquiry_answers(started)}, "submitStep",
             "APPLICATION_CLOSED"),
            (WITHDRAW, {"id": app_id}, "withdrawApplication", "NOT_WITHDRAWABLE")]:
        refused = (await api.data(mutation, variables, resume(token)))[name]
        assert [e["code"] for e in refused["userErrors"]] == [code], name
    _, other = await start(api)
    assert (await api.data(GET, {"id": app_id}, resume(other)))["application"] is None
    assert not await workflow_exists(service_of(engine).client, key_of(app_id))

    # The sweep keeps it until the time to live, then it is gone like any stale draft.
    await drafts.purge()
    assert (await api.data(GET, {"id": app_id}, resume(token)))["application"]["status"] == "EXPIRED"
    await backdate(engine, app_id, drafts.ttl)
    assert (await api.data(GET, {"id": app_id}, resume(token)))["application"] is None
    assert await drafts.purge() >= 1
    async with engine.database.session() as session:
        assert await session.get(AnonymousDraftRow, key_of(app_id)) is None


async def test_an_expired_draft_reads_as_its_workflow_reads_once_the_draft_expiry_closed_it(engine: Engine) -> None:
    service = service_of(engine)
    pinned = service.snapshots(ENQUIRY)
    assert pinned is not None
    short = replace(pinned, draft_expiry_seconds=2, content_hash=f"{pinned.content_hash}-short-expiry")
    eager = ApplicationService(service.client, service.task_queue, service.database, {ENQUIRY: short}.get,
                               store=service.store)
    anonymous = engine.applicants.anonymous()
    started = await eager.start("anon-expiring", anonymous, ENQUIRY)
    closed = started
    for _ in range(200):  # the workflow's draft expiry timer fires after 2 s
        closed = await eager.get(started.application_id, "anon-expiring")
        if closed.status != "DRAFT":
            break
        await asyncio.sleep(0.1)
    assert closed.status == "EXPIRED"
    opened = opening_view(started.application_id, short, started.citizen_ref, anonymous, started.created_at)
    drafted = await service.store.complete(expired_view(opened, started.created_at + timedelta(seconds=2)),
                                           lambda: pytest.fail("the snapshot is stored"))
    assert _comparable(drafted) == _comparable(closed)
    await service.client.get_workflow_handle(started.application_id).result()  # closed, not just closing
    with pytest.raises(InvalidInput) as refused:  # what the draft answers too (the test above)
        await eager.submit_step(started.application_id, "anon-expiring", "enquiry", {})
    assert refused.value.code == "APPLICATION_CLOSED"


async def test_the_sweep_deletes_expired_drafts_on_its_own(api: Api, engine: Engine) -> None:
    started, _token = await start(api)
    service = service_of(engine)
    assert service.drafts is not None
    async with engine.database.session() as session:
        row = await session.get(AnonymousDraftRow, key_of(started["id"]))
        assert row is not None
        row.created_at = datetime.now(UTC) - service.drafts.ttl - timedelta(seconds=1)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    sweeping = DraftStore(engine.database, service.drafts.cipher, service.drafts.ttl)
    sweeping.start_sweeping(0.05)
    try:
        for _ in range(100):
            async with engine.database.session() as session:
                if await session.get(AnonymousDraftRow, key_of(started["id"])) is None:
                    break
            await asyncio.sleep(0.05)
    finally:
        await sweeping.close()
    async with engine.database.session() as session:
        assert await session.get(AnonymousDraftRow, key_of(started["id"])) is None


def _comparable(view: ApplicationView) -> ApplicationView:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return replace(view, application_id="-", created_at=epoch, updated_at=epoch,
                   timeline=[TimelineEntry(epoch, t.status, t.message, t.actor) for t in view.timeline])


async def test_the_opening_view_is_the_workflows_own_for_every_service(engine: Engine) -> None:
    service = service_of(engine)
    # The same engine, but every start runs its workflow at once (as before drafts existed).
    eager = ApplicationService(service.client, service.task_queue, service.database, service.snapshots,
                               store=service.store)
    anonymous = engine.applicants.anonymous()
    compared = 0
    for catalogued in engine.catalogue.catalogue.services.values():
        snapshot = service.snapshots(catalogued.id)
        assert snapshot is not None
        try:
            started = await eager.start(f"anon-compare-{compared}", anonymous, catalogued.id)
        except InvalidInput as refused:
            if refused.code == "LOGIN_REQUIRED":
                continue
            with pytest.raises(DefinitionFault):
                opening_view("-", snapshot, "-", anonymous, datetime.now(UTC))
            continue
        opened = await service.store.complete(
            opening_view(started.application_id, snapshot, started.citizen_ref, anonymous, started.created_at),
            lambda: pytest.fail("the snapshot is stored"))
        assert _comparable(opened) == _comparable(started), catalogued.id
        compared += 1
    assert compared >= 10


async def test_a_logged_in_start_still_runs_its_workflow_at_once(api: Api, engine: Engine) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": "urn:onestop:acr:standard"})
    payload = (await api.data(START, {"slug": ENQUIRY}, citizen))["startApplication"]
    assert payload["userErrors"] == []
    assert await workflow_exists(service_of(engine).client, key_of(payload["application"]["id"]))


def test_an_applicant_round_trips_through_the_draft_payload() -> None:
    assert Applicant(**{"age": None, "age_group": None, "assurance": "basic", "logged_in": False}) \
        == Applicant(logged_in=False)


async def test_a_draft_row_left_behind_never_starts_a_second_workflow(api: Api, engine: Engine) -> None:
    started, token = await start(api)
    app_id = key_of(started["id"])
    async with engine.database.session() as session:
        row = await session.get(AnonymousDraftRow, app_id)
        assert row is not None
        kept = {c.name: getattr(row, c.name) for c in AnonymousDraftRow.__table__.columns}
    withdrawn = (await api.data(WITHDRAW, {"id": started["id"]}, resume(token)))["withdrawApplication"]
    assert withdrawn["application"]["status"] == "WITHDRAWN"
    async with engine.database.session() as session:  # as if the process died between the start and the delete
        session.add(AnonymousDraftRow(**kept))
    client = service_of(engine).client
    await client.get_workflow_handle(app_id).result()
    again = (await api.data(SUBMIT, {"id": started["id"], "step": "enquiry", "answers": enquiry_answers(started)},
                            resume(token)))["submitStep"]
    assert [e["code"] for e in again["userErrors"]] == ["APPLICATION_CLOSED"]
    assert (await api.data(GET, {"id": started["id"]}, resume(token)))["application"]["status"] == "WITHDRAWN"
    assert await runs_of(client, app_id) == 1


async def test_the_first_answer_runs_the_version_the_draft_was_started_on(engine: Engine) -> None:
    service = service_of(engine)
    pinned = service.snapshots(ENQUIRY)
    assert pinned is not None
    served = {ENQUIRY: pinned}
    drafting = ApplicationService(service.client, service.task_queue, service.database, served.get,
                                  store=service.store, drafts=service.drafts)
    view = await drafting.start("anon-pinned", engine.applicants.anonymous(), ENQUIRY)
    assert not await workflow_exists(service.client, view.application_id)
    # The catalogue moves on before the citizen answers.
    served[ENQUIRY] = replace(pinned, version=pinned.version + 1, content_hash=f"{pinned.content_hash}-next")
    step = view.current_step
    assert step is not None
    options = {f.id: f.options[0].value for f in getattr(step, "fields", []) if f.options}
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    moved = await drafting.submit_step(view.application_id, "anon-pinned", step.id, {
        "facilityTypes": [options["facilityTypes"]], "districts": [options["districts"]], "date": tomorrow,
        "replyEmail": "someone@example.org"})
    assert (moved.service_version, moved.content_hash) == (pinned.version, pinned.content_hash)
    assert moved.current_step_id == "send"
