"""A sandbox's applications run on the sandbox's own Temporal task queue, polled by that sandbox's worker only: never
on the live queue, in a live inbox or in a live visibility search, and no live application on theirs. Their prefill
answers from the synthetic records seeded at provisioning, and nobody else's. The provider's staff run a service as
one of their test citizens, face step-up included, and see the result in their sandbox inbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client import STANDARD, Api, codes_of
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from onestop.engine.applications.activities import gateway_prefill
from onestop.engine.container import Engine
from onestop.engine.db import SandboxApplicantRow
from onestop.engine.sandbox import Sandbox
from onestop.engine.sandbox.queues import sandbox_task_queue
from onestop.engine.sandbox.records import SandboxRecords, sandbox_gateway, synthetic_hkid
from onestop.engine.sandbox.workers import SandboxWorkers
from onestop.graphql.relay import from_global_id
from onestop.workflows.contracts import PrefillRequest

from .conftest import DECIDE, adult, approve, inbox_ids, submitted_sandbox_application
from .test_uploads import UPLOAD, b64, service_yaml

APPLICATION = """fragment A on Application {
  id status department referenceNumber
  currentStep { id type fields { id value prefilled source } } }
"""
START = APPLICATION + """mutation($slug: String!) { startSandboxApplication(input: {serviceSlug: $slug}) {
  application { ...A } userErrors { field code message } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field code message } } }"""
GRANT = APPLICATION + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
STEP_UP = APPLICATION + """mutation($id: ID!, $step: String!) {
  completeStepUp(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
TEST_CITIZENS = """{ mySandbox { namespace testCitizens { login name ageGroup dateOfBirth
  faceSamples { match mismatch } } } }"""
SIGN_IN = """mutation($login: String!, $selfie: String, $binding: String) {
  signInAsTestCitizen(input: {login: $login, selfie: $selfie, binding: $binding}) {
    accessToken expiresIn acr userErrors { field code message } } }"""
STAFF_GET = "query($id: ID!) { application(id: $id) { id status referenceNumber answers } }"
FACE = "urn:onestop:acr:face"

PREFILL_SERVICE = """id: {slug}
version: 1
department: {namespace}
title: {{en: Resident permit {slug}, tc: 居民許可證}}
summary: {{en: Apply for a resident permit., tc: 申請居民許可證。}}
themes: [transport]
ageGroups: [adult]
steps:
  - id: records
    type: prefill
    title: {{en: Use your records, tc: 使用你的紀錄}}
    purpose: {{en: To fill in your name and identity card number., tc: 用以填寫你的姓名及身份證號碼。}}
    items: [eme.nameEn, eme.hkid, immd-records.residency-status]
  - id: details
    type: form
    title: {{en: Your details, tc: 你的資料}}
    fields:
      - id: applicantName
        type: text
        label: {{en: Name, tc: 姓名}}
        required: true
        prefill: eme.nameEn
      - id: hkid
        type: hkid
        label: {{en: Identity card number, tc: 身份證號碼}}
        required: true
        prefill: eme.hkid
  - id: confirm
    type: stepUp
    title: {{en: Confirm it is you, tc: 確認你的身份}}
    assurance: face
    maxAge: PT10M
  - id: send
    type: submit
    title: {{en: Send, tc: 遞交}}
"""


@pytest.fixture(scope="module")
async def providers(api: Api) -> tuple[Sandbox, Sandbox, str]:
    """Two sandboxes with a plain and a prefill + face step-up service each; and the live application (to join)
    that provisioned the first."""
    live_app, first = await approve(api, "wong-ka-fai", "Queue Alpha Ltd")
    second = (await approve(api, "lee-mei-ling", "Queue Beta Ltd"))[1]
    for sandbox, prefix in ((first, "sbx-q-alpha"), (second, "sbx-q-beta")):
        headers = await api.token({"staff": sandbox.staff[0].login})
        for filename, text in ((f"{prefix}.yaml", service_yaml(prefix, sandbox.namespace)),
                               (f"{prefix}-permit.yaml", PREFILL_SERVICE.format(slug=f"{prefix}-permit",
                                                                                 namespace=sandbox.namespace))):
            payload = (await api.data(UPLOAD, {"filename": filename, "content": b64(text)}, headers)
                       )["uploadSandboxDefinitions"]
            assert payload["problems"] == [], payload
            assert payload["userErrors"] == [], payload
    return first, second, live_app



def _workflow_id(global_id: str) -> str:
    decoded = from_global_id(global_id)
    assert decoded is not None
    return decoded[1]




async def _listed(client: Client, query: str, workflow_id: str, *, present: bool) -> bool:
    """Whether a visibility search lists the workflow, waiting for the (eventually consistent) index to agree."""
    found = False
    for _ in range(50):
        found = any([w.id async for w in client.list_workflows(f"{query} AND WorkflowId = '{workflow_id}'")])
        if found == present:
            break
        await asyncio.sleep(0.2)
    return found


def _client(api: Api) -> Client:
    engine: Engine = api.engine
    assert engine.applications is not None
    return engine.applications.client


async def test_a_sandbox_application_runs_on_its_sandboxs_queue_and_never_live(
        api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, beta, _ = providers
    app = await submitted_sandbox_application(api, alpha, "sbx-q-alpha")
    workflow_id = _workflow_id(app["id"])
    client, live = _client(api), api.engine.settings.temporal_task_queue
    own = sandbox_task_queue(alpha.provider_id)
    assert (await client.get_workflow_handle(workflow_id).describe()).task_queue == own
    # Every workflow task was run by the sandbox's own worker (its identity names the queue), none by the live one.
    runners = {event.workflow_task_started_event_attributes.identity
               async for event in client.get_workflow_handle(workflow_id).fetch_history_events()
               if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}
    assert runners
    assert all(identity.endswith(f"/{own}") for identity in runners), runners
    # A search of the live queue never finds it; one of the sandbox's queue does.
    assert await _listed(client, f"TaskQueue = '{own}'", workflow_id, present=True)
    assert not await _listed(client, f"TaskQueue = '{live}'", workflow_id, present=False)
    assert not await _listed(client, f"TaskQueue = '{sandbox_task_queue(beta.provider_id)}'", workflow_id,
                             present=False)
    # Only the sandbox's inbox has it: not the live departments', the platform team's or the other sandbox's.
    assert app["id"] in await inbox_ids(api, alpha.staff[0].login)
    for staff in ("td-officer", "platform-officer", beta.staff[0].login):
        assert app["id"] not in await inbox_ids(api, staff)


async def test_a_live_application_runs_on_the_live_queue_and_never_in_a_sandbox(
        api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, beta, live_app = providers
    client, live = _client(api), api.engine.settings.temporal_task_queue
    assert (await client.get_workflow_handle(live_app).describe()).task_queue == live
    assert await _listed(client, f"TaskQueue = '{live}'", live_app, present=True)
    for sandbox in (alpha, beta):
        assert not await _listed(client, f"TaskQueue = '{sandbox_task_queue(sandbox.provider_id)}'", live_app,
                                 present=False)
    platform = await inbox_ids(api, "platform-officer")
    assert any(_workflow_id(node) == live_app for node in platform)
    for sandbox in (alpha, beta):
        assert all(_workflow_id(node) != live_app for node in await inbox_ids(api, sandbox.staff[0].login))


async def test_every_provisioned_sandboxs_queue_is_polled(api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, beta, _ = providers
    client = _client(api)
    queues = {sandbox_task_queue(s.provider_id) for s in (alpha, beta)}
    # The running worker was started before either sandbox existed (and looks in the database only at start):
    # provisioning in this process had it poll each new queue at once.
    for queue in queues:
        described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        assert any(p.identity.endswith(f"/{queue}") for p in described.pollers), (queue, described.pollers)
    # A worker process started now (another `onestop worker`: one process may not poll a queue twice) finds every
    # provisioned sandbox at start.
    made: list[str] = []
    recording = SandboxWorkers(api.engine.database, lambda provider_id: made.append(provider_id) or _never(),
                               poll_seconds=0)
    found = await recording.discover()
    assert queues <= {sandbox_task_queue(p) for p in found}
    assert await recording.discover() == []  # each sandbox's worker is started once
    assert set(made) == set(found)


def _never() -> Any:
    class Idle:
        async def run(self) -> None:
            return None

        async def shutdown(self) -> None:
            return None

    return Idle()


async def test_prefill_in_a_sandbox_answers_from_the_synthetic_records(
        api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, _, _ = providers
    login = adult(alpha)
    headers = await api.token({"citizen": login, "acr": STANDARD})
    app = (await api.data(START, {"slug": "sbx-q-alpha-permit"}, headers))["startSandboxApplication"]["application"]
    assert app["currentStep"]["id"] == "records"
    granted = (await api.data(GRANT, {"id": app["id"], "step": "records"}, headers))["grantConsent"]
    assert granted["userErrors"] == [], granted
    fields = {f["id"]: f for f in granted["application"]["currentStep"]["fields"]}
    citizen = next(c for c in alpha.citizens if c.login == login)
    assert fields["applicantName"]["value"] == citizen.name
    assert fields["applicantName"]["prefilled"]
    assert fields["hkid"]["value"] == synthetic_hkid(login)
    assert fields["hkid"]["value"].startswith("Z")  # made up at provisioning, not anyone's card


async def test_a_sandbox_reads_no_real_citizens_records_and_no_other_sandboxs(
        api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, beta, _ = providers
    engine: Engine = api.engine
    assert engine.identity_provider is not None
    # The beta test citizen has started an application (so their reference is known as beta's).
    await submitted_sandbox_application(api, beta, "sbx-q-beta")
    real = await engine.data.citizens.ensure(engine.identity_provider.citizen_sub("wong-ka-fai"))  # type: ignore[attr-defined]
    async with engine.database.session() as session:
        beta_ref = await session.scalar(select(SandboxApplicantRow.citizen_ref).where(
            SandboxApplicantRow.login == adult(beta)))
    assert beta_ref is not None
    prefill = gateway_prefill(sandbox_gateway(engine.data, SandboxRecords(engine.database, engine.data.cipher),
                                              alpha.provider_id), engine.catalogue)
    for ref in (real.ref, beta_ref):
        request = PrefillRequest(application_id="app-probe", citizen_ref=ref, service_id="sbx-q-alpha-permit",
                                 department=alpha.namespace, step_id="records", items=["eme.nameEn", "eme.hkid"],
                                 purpose={"en": "probe", "tc": "測試"}, lawful_basis="consent", mode="one-off",
                                 valid_for_seconds=None, fetch_id=f"probe-{ref}")
        with pytest.raises(ApplicationError) as refused:
            await prefill(request)
        assert refused.value.type == "NOT_A_TEST_CITIZEN", refused.value.message
        assert refused.value.non_retryable


async def test_staff_run_their_service_as_a_test_citizen_with_a_face_step_up(
        api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, _, _ = providers
    staff = await api.token({"staff": alpha.staff[0].login})
    mine = (await api.data(TEST_CITIZENS, None, staff))["mySandbox"]
    assert {c["ageGroup"] for c in mine["testCitizens"]} == {c.login.removeprefix(f"{alpha.namespace.lower()}-")
                                                            for c in alpha.citizens}
    chosen = next(c for c in mine["testCitizens"] if c["ageGroup"] == "adult")
    signed = (await api.data(SIGN_IN, {"login": chosen["login"]}, staff))["signInAsTestCitizen"]
    assert signed["userErrors"] == []
    assert signed["acr"] == STANDARD
    assert signed["expiresIn"] > 0
    citizen = {"Authorization": f"Bearer {signed['accessToken']}"}
    app = (await api.data(START, {"slug": "sbx-q-alpha-permit"}, citizen))["startSandboxApplication"]["application"]
    app = (await api.data(GRANT, {"id": app["id"], "step": "records"}, citizen))["grantConsent"]["application"]
    fields = {f["id"]: f["value"] for f in app["currentStep"]["fields"]}
    app = (await api.data(SUBMIT, {"id": app["id"], "step": "details", "answers": fields}, citizen))["submitStep"][
        "application"]
    assert app["currentStep"]["id"] == "confirm"
    # The standard sign-in is not enough: the step asks for the face level, bound to this step.
    challenged = await api.post(STEP_UP, {"id": app["id"], "step": "confirm"}, citizen)
    assert codes_of(challenged) == ["INSUFFICIENT_USER_AUTHENTICATION"]
    binding = f"{_workflow_id(app['id'])}:confirm"
    samples = chosen["faceSamples"]
    refused = (await api.data(SIGN_IN, {"login": chosen["login"], "selfie": samples["mismatch"], "binding": binding},
                              staff))["signInAsTestCitizen"]
    assert [e["code"] for e in refused["userErrors"]] == ["FACE_MISMATCH"]
    assert refused["accessToken"] is None
    face = (await api.data(SIGN_IN, {"login": chosen["login"], "selfie": samples["match"], "binding": binding},
                           staff))["signInAsTestCitizen"]
    assert face["userErrors"] == []
    assert face["acr"] == FACE
    stepped = (await api.data(STEP_UP, {"id": app["id"], "step": "confirm"},
                              {"Authorization": f"Bearer {face['accessToken']}"}))["completeStepUp"]
    assert stepped["userErrors"] == [], stepped
    sent = (await api.data(SUBMIT, {"id": app["id"], "step": "send", "answers": {}}, citizen))["submitStep"]
    assert sent["application"]["status"] == "SUBMITTED", sent
    # The staff's inbox view of the result: in their sandbox's inbox, readable with the answers given.
    inbox = []
    for _ in range(50):
        inbox = await inbox_ids(api, alpha.staff[0].login)
        if app["id"] in inbox:
            break
        await asyncio.sleep(0.1)
    assert app["id"] in inbox
    seen = (await api.data(STAFF_GET, {"id": app["id"]}, staff))["application"]
    assert seen["status"] == "SUBMITTED"
    assert seen["referenceNumber"]
    assert seen["answers"]["hkid"] == synthetic_hkid(chosen["login"]), seen["answers"]


@pytest.mark.parametrize("who", ["beta-citizen", "alpha-staff-login", "real-citizen", "unknown"])
async def test_staff_sign_in_only_as_their_own_test_citizens(
        api: Api, providers: tuple[Sandbox, Sandbox, str], who: str) -> None:
    alpha, beta, _ = providers
    login = {"beta-citizen": adult(beta), "alpha-staff-login": alpha.staff[1].login, "real-citizen": "wong-ka-fai",
             "unknown": "nobody"}[who]
    result = (await api.data(SIGN_IN, {"login": login}, await api.token({"staff": alpha.staff[0].login}))
              )["signInAsTestCitizen"]
    assert [e["code"] for e in result["userErrors"]] == ["NOT_FOUND"]
    assert result["accessToken"] is None


@pytest.mark.parametrize("who", [{"citizen": "wong-ka-fai", "acr": STANDARD}, {"staff": "platform-officer"}, None])
async def test_nobody_but_a_sandboxs_staff_signs_in_as_its_test_citizens(
        api: Api, providers: tuple[Sandbox, Sandbox, str], who: dict[str, str] | None) -> None:
    alpha, _, _ = providers
    headers = await api.token(who) if who else None
    assert codes_of(await api.post(SIGN_IN, {"login": adult(alpha)}, headers)) == ["FORBIDDEN"]


async def test_a_test_citizen_signed_in_by_staff_is_refused_a_decision(
        api: Api, providers: tuple[Sandbox, Sandbox, str]) -> None:
    alpha, _, _ = providers
    app = await submitted_sandbox_application(api, alpha, "sbx-q-alpha")
    staff = await api.token({"staff": alpha.staff[0].login})
    signed = (await api.data(SIGN_IN, {"login": adult(alpha)}, staff))["signInAsTestCitizen"]
    as_citizen = {"Authorization": f"Bearer {signed['accessToken']}"}
    assert codes_of(await api.post(DECIDE, {"id": app["id"], "status": "APPROVED"}, as_citizen)) == ["FORBIDDEN"]
