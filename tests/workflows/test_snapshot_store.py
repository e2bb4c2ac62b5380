"""The engine renders a running application's step from its own pinned snapshot, kept by content hash."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from onestop.engine.applications import pinned
from onestop.engine.applications.service import ApplicationService
from onestop.engine.applications.snapshots import Rendering, SnapshotStore
from onestop.engine.db import Database
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.engine.temporal import workflow_runner
from onestop.workflows.application import ServiceApplicationWorkflow
from onestop.workflows.contracts import QUERY_STATE, ApplicationView
from onestop.workflows.interpreter import Applicant
from onestop.workflows.snapshot import ServiceSnapshot, fields_of

from .conftest import licence_service
from .conftest import text as localized_text

LADDER = AssuranceLadder.of([("basic", "urn:onestop:acr:basic"), ("standard", "urn:onestop:acr:standard"),
                             ("face", "urn:onestop:acr:face")])
ADULT = Applicant(age=40, age_group="adult", assurance="standard")


@pytest.fixture
def catalogue() -> dict[str, ServiceSnapshot]:
    return {"renew-licence": licence_service(1)}


def service(client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
            store: SnapshotStore | None = None) -> ApplicationService:
    return ApplicationService(client, task_queue, database, catalogue.get, LADDER, store=store)


async def test_the_workflow_answers_without_the_definition_and_the_engine_adds_it(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    apps = service(client, task_queue, database, catalogue)
    view = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    raw = await client.get_workflow_handle(view.application_id).query(QUERY_STATE, result_type=ApplicationView)
    assert raw.current_step is None
    assert all(entry.title == {} for entry in raw.outline)
    assert view.current_step is not None
    assert view.current_step.id == raw.current_step_id == "prefill"
    assert view.outline[0].title == {"en": "Use your e-ME data", "tc": "Use your e-ME data"}


async def test_a_new_version_does_not_change_a_running_application(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    apps = service(client, task_queue, database, catalogue)
    first = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    catalogue["renew-licence"] = licence_service(2)
    second = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    again = await apps.get(first.application_id, "citizen-1")
    assert again.content_hash == "hash-v1"
    assert second.content_hash == "hash-v2"


async def test_another_replica_without_the_snapshot_asks_the_workflow_once(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    view = await service(client, task_queue, database, catalogue).start("citizen-1", ADULT, "renew-licence",
                                                                        uuid.uuid4().hex)
    async with database.session() as session:  # as if it had been started before snapshots were stored
        await session.execute(text("DELETE FROM service_snapshots"))
    replica = service(client, task_queue, database, {}, store=SnapshotStore(database))
    seen = await replica.get(view.application_id, "citizen-1")
    assert seen.current_step is not None
    assert seen.current_step.id == "prefill"
    async with database.session() as session:
        stored = (await session.execute(text("SELECT content_hash FROM service_snapshots"))).scalars().all()
    assert "hash-v1" in stored


async def _input_payload(client: Client, application_id: str) -> Payload:
    history = await client.get_workflow_handle(application_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    decoded = await client.data_converter.payload_codec.decode(list(started.input.payloads))  # type: ignore[union-attr]
    return decoded[0]


async def test_a_new_application_names_its_snapshot_by_digest_instead_of_carrying_it(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    view = await service(client, task_queue, database, catalogue).start("citizen-1", ADULT, "renew-licence",
                                                                        uuid.uuid4().hex)
    payload = await _input_payload(client, view.application_id)
    carried = json.loads(payload.data)
    ref, data = pinned.dump(catalogue["renew-licence"])
    assert carried["service"] is None
    assert carried["service_ref"] == ref
    assert payload.metadata[pinned.METADATA_KEY] == ref.encode()
    assert len(payload.data) < len(data)
    async with database.session() as session:
        stored = (await session.execute(text("SELECT snapshot FROM service_snapshots WHERE content_hash = :ref"),
                                        {"ref": ref})).scalar_one()
    assert stored.encode() == data


async def test_a_worker_that_never_saw_the_snapshot_reads_it_from_the_store(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    apps = service(client, task_queue, database, catalogue)
    view = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    # As a freshly started worker process replaying it: no snapshot in memory.
    monkeypatch.setattr(pinned, "_pinned", {})
    replayed = await client.get_workflow_handle(view.application_id).fetch_history()
    await Replayer(workflows=[ServiceApplicationWorkflow], data_converter=client.data_converter,
                   workflow_runner=workflow_runner()).replay_workflow(replayed)
    assert pinned.known(pinned.dump(catalogue["renew-licence"])[0])


async def test_a_reference_names_only_the_bytes_it_was_made_from() -> None:
    ref, data = pinned.dump(licence_service(1))
    assert pinned.load(ref, data) == licence_service(1)
    assert pinned.load(ref, data.replace(b"hash-v1", b"hash-v9")) is None


async def test_an_input_naming_an_unknown_snapshot_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pinned, "_pinned", {})
    monkeypatch.setattr(pinned, "_loader", [])
    with pytest.raises(pinned.PinnedSnapshotMissing, match="service_snapshots"):
        await pinned.prefetch("0" * 64)


async def test_a_brief_answer_renders_the_step_from_the_pinned_snapshot_without_a_query(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    apps = service(client, task_queue, database, catalogue)
    full = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    queries: list[str] = []
    real_query = apps._query

    async def counted(application_id: str) -> ApplicationView:
        queries.append(application_id)
        return await real_query(application_id)

    apps._query = counted  # type: ignore[method-assign]
    brief = await apps.grant_consent(full.application_id, "citizen-1", "prefill", uuid.uuid4().hex, brief=True)
    whole = await apps.get(full.application_id, "citizen-1")
    assert queries == [full.application_id]  # the get above, not the action
    assert brief.partial
    assert not whole.partial
    assert brief.current_step == whole.current_step
    assert [(o.id, o.state) for o in brief.outline] == [(o.id, o.state) for o in whole.outline]
    assert brief.outline[0].title == whole.outline[0].title
    own = {f.id for f in fields_of(whole.current_step)} if whole.current_step else set()
    assert brief.prefilled == {k: v for k, v in whole.prefilled.items() if k in own}
    assert (brief.status, brief.content_hash, brief.service_version) == (whole.status, whole.content_hash,
                                                                         whole.service_version)
    # The engine's own callers still get the whole view.
    plain = await apps.go_back(full.application_id, "citizen-1", "prefill", uuid.uuid4().hex)
    assert not plain.partial
    assert plain.timeline == whole.timeline


def _retitled(version: int, title: str) -> ServiceSnapshot:
    snapshot = licence_service(version)
    return replace(snapshot, steps=[replace(snapshot.steps[0], title=localized_text(title)), *snapshot.steps[1:]])


async def test_brief_answers_render_each_applications_own_version_after_a_reload(
        client: Client, task_queue: str, database: Database, catalogue: dict[str, ServiceSnapshot],
        worker: Worker) -> None:
    apps = service(client, task_queue, database, catalogue)
    old = await apps.start("citizen-1", ADULT, "renew-licence", uuid.uuid4().hex)
    catalogue["renew-licence"] = _retitled(2, "Fetch what government holds")  # a reload: a new content hash
    new = await apps.start("citizen-2", ADULT, "renew-licence", uuid.uuid4().hex)
    other = await apps.start("citizen-3", ADULT, "renew-licence", uuid.uuid4().hex)
    answers = [await apps.grant_consent(view.application_id, citizen, "prefill", uuid.uuid4().hex, brief=True)
               for view, citizen in ((old, "citizen-1"), (new, "citizen-2"), (other, "citizen-3"))]
    assert all(answer.partial for answer in answers)
    assert [a.outline[0].title["en"] for a in answers] == ["Use your e-ME data", "Fetch what government holds",
                                                            "Fetch what government holds"]
    assert [a.content_hash for a in answers] == ["hash-v1", "hash-v2", "hash-v2"]
    # Two applications at the same point of one version share the outline: it is rendered once.
    assert answers[1].outline is answers[2].outline
    assert answers[0].outline is not answers[1].outline
    whole = await apps.get(new.application_id, "citizen-2")
    assert [(o.id, o.type, o.title, o.state) for o in whole.outline] == \
        [(o.id, o.type, o.title, o.state) for o in answers[1].outline]
    assert answers[1].current_step == whole.current_step


def test_an_outline_the_snapshot_disagrees_with_is_refused_every_time() -> None:
    rendering = Rendering(licence_service(1))
    steps = [s for s in licence_service(1).steps if s.id != "not-eligible"]  # an exit step shows only when current
    letters = "C" + "T" * (len(steps) - 1)
    outline = rendering.outline("prefill", letters)
    assert outline is not None
    assert [o.id for o in outline] == [s.id for s in steps]
    assert rendering.outline("prefill", letters) is outline
    assert rendering.outline("prefill", letters + "T") is None  # one letter too many
    assert rendering.outline("prefill", "X" + letters[1:]) is None  # not a state's letter
    assert rendering.step("terms") == licence_service(1).steps[1]
    assert rendering.step(None) is None
    assert rendering.step("nope") is None
