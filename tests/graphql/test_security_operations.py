"""Security operations end to end: real Temporal (the detector's Schedule and workflow), the seed catalogue, the dev
IdP over HTTP, SQLite. Three failed face confirmations become an alert that locks face step-up; the citizen reads
it in plain language and disowns it; the operator sees it raised, acknowledges and resolves it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from client import FACE, STANDARD, Api, codes_of
from running import dev_settings, running_engine, running_seed
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.engine.db import DetectorStateRow
from onestop.engine.security import ensure_schedules, schedule_ids
from onestop.graphql.relay import from_global_id
from onestop.workflows.operations import PurgeResult

CITIZEN = "wong-ka-fai"
ALERTS = """query($status: SecurityAlertStatus) { securityAlerts(status: $status, first: 10) { totalCount edges { node {
  id rule severity status series explanation eventIds lockedUntil citizensConcerned citizensDisowned
  features { feature observed expected threshold score } } } } }"""
MY_ALERTS = "{ viewer { securityAlerts { id title body answer } } }"
ANSWER = """mutation($id: ID!, $answer: SecurityAlertAnswer!) {
  answerSecurityAlert(input: {alertId: $id, answer: $answer}) { alert { id answer } userErrors { field code } } }"""
ACK = """mutation($id: ID!) {
  acknowledgeAlert(input: {alertId: $id}) { alert { status } userErrors { field code } } }"""
RESOLVE = """mutation($id: ID!) { resolveAlert(input: {alertId: $id, note: "customer called 1823"}) {
  alert { status note } userErrors { field code message } } }"""
HEALTH = "{ systemHealth { catalogueVersion temporalReachable workerBacklog deliveryFailures24h openAlerts } }"
START = """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { id currentStep { id fields { id value } } } userErrors { code } } }"""
GRANT = """mutation($id: ID!, $step: String!) { grantConsent(input: {applicationId: $id, stepId: $step}) {
  application { currentStep { id fields { id value } } } userErrors { code } } }"""
SUBMIT = """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { currentStep { id } } userErrors { code } } }"""
STEP_UP = """mutation($id: ID!, $step: String!) { completeStepUp(input: {applicationId: $id, stepId: $step}) {
  application { currentStep { id } } userErrors { code } } }"""


@pytest.fixture(scope="module")
async def running(temporal_env: WorkflowEnvironment, definitions_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Engine, Client]]:
    async with running_engine(temporal_env, dev_settings(definitions_dir, tmp_path_factory.mktemp("ops-data"))) \
            as (built, client):
        yield built, client
        for schedule_id in schedule_ids(built.settings.temporal_task_queue):
            await client.get_schedule_handle(schedule_id).delete()


engine, api = running_seed("ops-data")[1:]  # the api over the module's own `running` above


async def _watermark(engine: Engine) -> int:
    async with engine.database.session() as session:
        row = await session.get(DetectorStateRow, "anomaly")
        return row.watermark if row else 0


@pytest.fixture(scope="module")
async def alert(running: tuple[Engine, Client], api: Api) -> dict[str, Any]:
    """Three failed face confirmations through the dev IdP, then one run of the detector's Schedule."""
    engine, client = running
    selfie = next(c for c in await api.citizens() if c["id"] == CITIZEN)["faceSamples"]["mismatch"]
    for _ in range(3):
        response = await api.request("POST", "/dev-idp/token", json={"citizen": CITIZEN, "acr": FACE,
                                                                     "selfie": selfie})
        assert response.status_code == 403
    assert await ensure_schedules(client, engine.settings) == list(schedule_ids(engine.settings.temporal_task_queue))
    assert await ensure_schedules(client, engine.settings) == []  # a second worker start registers nothing
    await client.get_schedule_handle(schedule_ids(engine.settings.temporal_task_queue)[0]).trigger()
    for _ in range(150):
        if await _watermark(engine) > 0:
            break
        await asyncio.sleep(0.1)
    operator = await api.token({"staff": "dpo-operator"})
    edges = (await api.data(ALERTS, {"status": "OPEN"}, operator))["securityAlerts"]["edges"]
    face = [e["node"] for e in edges if e["node"]["rule"] == "face_mismatch_burst"]
    assert len(face) == 1, edges
    return face[0]


@pytest.mark.slow
async def test_the_schedule_runs_the_detector_and_explains_the_alert(alert: dict[str, Any]) -> None:
    assert alert["severity"] == "HIGH"
    assert alert["status"] == "OPEN"
    assert alert["series"].startswith("citizen:")
    assert alert["features"][0] == {"feature": "faceMismatches10m", "observed": 3.0, "expected": 0.0,
                                    "threshold": 3.0, "score": 1.0}
    assert "faceMismatches10m = 3" in alert["explanation"]
    assert len(alert["eventIds"]) == 3
    assert alert["lockedUntil"] is not None
    assert alert["citizensConcerned"] == 1


@pytest.mark.slow
async def test_face_step_up_is_refused_while_locked(alert: dict[str, Any], api: Api) -> None:
    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    app = (await api.data(START, {"slug": "renew-driving-licence"}, citizen))["startApplication"]["application"]
    app_id = app["id"]
    step = (await api.data(GRANT, {"id": app_id, "step": "your-details"}, citizen))["grantConsent"]["application"]
    answers = {f["id"]: f["value"] for f in step["currentStep"]["fields"] if f["value"] is not None} | {"period": "10"}
    await api.data(SUBMIT, {"id": app_id, "step": "licence", "answers": answers}, citizen)
    await api.data(GRANT, {"id": app_id, "step": "share-with-police"}, citizen)
    parsed = from_global_id(app_id)
    assert parsed is not None
    face = await api.face_token(CITIZEN, f"{parsed[1]}:verify-face")
    refused = await api.post(STEP_UP, {"id": app_id, "step": "verify-face"}, face)
    assert codes_of(refused) == ["FORBIDDEN"]
    assert refused["errors"][0]["extensions"]["reason"] == "STEP_UP_LOCKED"
    assert "Face confirmation is paused" in refused["errors"][0]["message"]


@pytest.mark.slow
async def test_the_citizen_reads_the_alert_and_says_it_was_not_them(alert: dict[str, Any], api: Api) -> None:
    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    mine = (await api.data(MY_ALERTS, headers=citizen))["viewer"]["securityAlerts"]
    assert [(a["id"], a["title"], a["answer"]) for a in mine] == [
        (alert["id"], "Someone tried to confirm your face 3 times and failed", None)]
    chinese = (await api.data(MY_ALERTS, headers={**citizen, "Accept-Language": "zh-HK"}))["viewer"]
    assert chinese["securityAlerts"][0]["title"] == "有人嘗試確認你的面容 3 次但失敗"
    other = await api.token({"citizen": "chan-siu-ming", "acr": STANDARD})
    assert (await api.data(MY_ALERTS, headers=other))["viewer"]["securityAlerts"] == []
    stolen = (await api.data(ANSWER, {"id": alert["id"], "answer": "WAS_NOT_ME"}, other))["answerSecurityAlert"]
    assert stolen["userErrors"] == [{"field": ["input", "alertId"], "code": "NOT_FOUND"}]
    answered = (await api.data(ANSWER, {"id": alert["id"], "answer": "WAS_NOT_ME"}, citizen))["answerSecurityAlert"]
    assert answered == {"alert": {"id": alert["id"], "answer": "WAS_NOT_ME"}, "userErrors": []}

    operator = await api.token({"staff": "dpo-operator"})
    edges = (await api.data(ALERTS, {"status": "OPEN"}, operator))["securityAlerts"]["edges"]
    raised = next(e["node"] for e in edges if e["node"]["id"] == alert["id"])
    assert (raised["severity"], raised["citizensDisowned"]) == ("CRITICAL", 1)


@pytest.mark.slow
async def test_an_operator_acknowledges_and_resolves_an_alert(alert: dict[str, Any], api: Api) -> None:
    operator = await api.token({"staff": "dpo-operator"})
    assert (await api.data(ACK, {"id": alert["id"]}, operator))["acknowledgeAlert"] == {
        "alert": {"status": "ACKNOWLEDGED"}, "userErrors": []}
    resolved = (await api.data(RESOLVE, {"id": alert["id"]}, operator))["resolveAlert"]
    assert resolved == {"alert": {"status": "RESOLVED", "note": "customer called 1823"}, "userErrors": []}
    again = (await api.data(ACK, {"id": alert["id"]}, operator))["acknowledgeAlert"]
    assert again["alert"] is None
    assert again["userErrors"] == [{"field": ["input", "alertId"], "code": "INVALID_TRANSITION"}]
    unknown = (await api.data(ACK, {"id": "bm9wZTp4"}, operator))["acknowledgeAlert"]
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.slow
async def test_only_operators_see_alerts_and_health(api: Api) -> None:
    caseworker = await api.token({"staff": "td-officer"})
    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    for headers in (caseworker, citizen):
        assert codes_of(await api.post(ALERTS, {}, headers)) == ["FORBIDDEN"]
        assert codes_of(await api.post(HEALTH, {}, headers)) == ["FORBIDDEN"]
    assert codes_of(await api.post(ALERTS, {})) == ["UNAUTHENTICATED"]
    operator = await api.token({"staff": "dpo-operator"})
    assert codes_of(await api.post("{ departmentInbox(first: 1) { totalCount } }", {}, operator)) == ["FORBIDDEN"]


@pytest.mark.slow
async def test_the_retention_schedule_runs_its_workflow(alert: dict[str, Any], running: tuple[Engine, Client]) -> None:
    engine, client = running
    handle = client.get_schedule_handle(schedule_ids(engine.settings.temporal_task_queue)[1])
    await handle.trigger()
    for _ in range(100):
        actions = (await handle.describe()).info.recent_actions
        if actions:
            break
        await asyncio.sleep(0.1)
    action = actions[-1].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    result = await client.get_workflow_handle(action.workflow_id, result_type=PurgeResult).result()
    assert result == PurgeResult(deleted=0)  # nothing is 90 days old yet; the purge itself is tested in the engine


@pytest.mark.slow
async def test_system_health_reports_catalogue_and_temporal(api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    operator = await api.token({"staff": "dpo-operator"})
    health = (await api.data(HEALTH, headers=operator))["systemHealth"]
    assert health["catalogueVersion"] == engine.catalogue.catalogue.version
    assert health["temporalReachable"] is True
    assert health["deliveryFailures24h"] == 0
    assert isinstance(health["openAlerts"], int)


@pytest.mark.slow
async def test_a_start_and_a_refused_token_are_recorded(api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    await api.post("{ viewer { sub } }", {}, {"Authorization": "Bearer not-a-token"})
    await api.data(START, {"slug": "renew-driving-licence"}, await api.token({"citizen": CITIZEN, "acr": STANDARD}))
    await engine.security.events.flush()
    kinds = {e.kind for e in await engine.security.log.since(0)}
    assert {"token.refused", "application.started", "sign_in", "step_up.face_mismatch", "step_up.locked",
            "consent.granted", "data.access"} <= kinds
