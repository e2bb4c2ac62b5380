"""Sandbox programme fixtures: the seed catalogue, the real engine on the session's Temporal server, the app over
HTTP, and a helper that applies to join the programme as a test citizen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD, Api
from running import dev_settings, running_engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.engine.sandbox import Sandbox
from onestop.graphql.app import create_app
from onestop.graphql.relay import from_global_id

JOIN = "join-sandbox-programme"
START = """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { id status currentStep { id type } } userErrors { field code message } } }"""
SUBMIT = """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { id status referenceNumber currentStep { id type } } userErrors { field code message } } }"""
INBOX = """{ departmentInbox(first: 50) { edges { node { id status serviceSlug referenceNumber } } } }"""
SANDBOX_START = """mutation($slug: String!) { startSandboxApplication(input: {serviceSlug: $slug}) {
  application { id status department currentStep { id } } userErrors { field code message } } }"""
DECIDE = """mutation($id: ID!, $status: ApplicationStatus!) {
  updateApplicationStatus(input: {applicationId: $id, status: $status, message: "Welcome"}) {
    application { id status } userErrors { field code message } } }"""


def join_answers(organisation: str, redirect: str) -> dict[str, dict[str, Any]]:
    return {
        "organisation": {"organisationName": organisation, "sector": "private", "region": "hong-kong"},
        "contact": {"contactName": "Chan Tai Man", "contactEmail": "dev@example.com", "contactPhone": "91234567"},
        "plans": {
            "plannedServices": [{"serviceName": "Parking permit", "serviceDescription": "Apply for a permit."}],
            "redirectUris": [{"uri": redirect}],
            "staffAccounts": [
                {"staffName": "Lee Siu Ming", "staffEmail": "lee@example.com"},
                {"staffName": "Ho Ka Yan", "staffEmail": "ho@example.com"},
            ],
        },
        "declarations": {"syntheticDataOnly": True, "authorised": True},
        "send": {},
    }


async def apply_to_join(
    api: Api, citizen: str, organisation: str, redirect: str = "https://app.example.com/callback"
) -> dict[str, Any]:
    """Complete the join service as ``citizen``; the submitted application."""
    headers = await api.token({"citizen": citizen, "acr": STANDARD})
    payload = (await api.data(START, {"slug": JOIN}, headers))["startApplication"]
    assert payload["userErrors"] == [], payload
    application: dict[str, Any] = payload["application"]
    for step, answers in join_answers(organisation, redirect).items():
        assert application["currentStep"]["id"] == step, application
        payload = (await api.data(SUBMIT, {"id": application["id"], "step": step, "answers": answers}, headers))[
            "submitStep"
        ]
        assert payload["userErrors"] == [], payload
        application = payload["application"]
    assert application["status"] == "SUBMITTED", application
    return application


async def approve(api: Api, citizen: str, organisation: str, redirect: str = "https://app.example.com/callback"
                  ) -> tuple[str, Sandbox]:
    """Apply to join as ``citizen`` and have the platform officer approve: the application id and the sandbox."""
    application = await apply_to_join(api, citizen, organisation, redirect)
    officer = await api.token({"staff": "platform-officer"})
    decided = (await api.data(DECIDE, {"id": application["id"], "status": "APPROVED"}, officer)
               )["updateApplicationStatus"]
    assert decided["userErrors"] == [], decided
    decoded = from_global_id(application["id"])
    assert decoded is not None
    engine: Engine = api.engine
    assert engine.sandbox is not None
    found = await engine.sandbox.sandbox_of(decoded[1])
    assert found is not None, "approval provisioned no sandbox"
    return decoded[1], found


@pytest.fixture(scope="module")
async def running(
    temporal_env: WorkflowEnvironment, definitions_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Engine, Client]]:
    settings = dev_settings(definitions_dir, tmp_path_factory.mktemp("sandbox-data"))
    async with running_engine(temporal_env, settings) as (built, client):
        yield built, client


@pytest.fixture(scope="module")
async def api(running: tuple[Engine, Client]) -> AsyncIterator[Api]:
    engine, _ = running
    app = create_app(engine.settings, engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://onestop.test", timeout=60
    ) as client:
        yield Api(client, engine=engine)


def adult(sandbox: Sandbox) -> str:
    """The login of the programme's adult test citizen."""
    return next(c.login for c in sandbox.citizens if c.login.endswith("-adult"))


async def sandbox_citizen(api: Api, sandbox: Sandbox) -> dict[str, str]:
    """Headers of the sandbox's adult test citizen, signed in at the standard level."""
    return await api.token({"citizen": adult(sandbox), "acr": STANDARD})


async def submitted_sandbox_application(api: Api, sandbox: Sandbox, slug: str) -> dict[str, Any]:
    """Start ``slug`` (the uploads' two-step service) in ``sandbox`` as its adult and submit it; the application."""
    headers = await sandbox_citizen(api, sandbox)
    started = (await api.data(SANDBOX_START, {"slug": slug}, headers))["startSandboxApplication"]
    assert started["userErrors"] == [], started
    app: dict[str, Any] = started["application"]
    assert app["department"] == sandbox.namespace
    for step, answers in (("car", {"plate": "AB 1234"}), ("send", {})):
        payload = (await api.data(SUBMIT, {"id": app["id"], "step": step, "answers": answers}, headers)
                   )["submitStep"]
        assert payload["userErrors"] == [], payload
        app = payload["application"]
    assert app["status"] == "SUBMITTED"
    return app


async def inbox_nodes(api: Api, staff: str) -> list[dict[str, Any]]:
    """The department inbox ``staff`` sees (first 50): id, status, service and reference of each."""
    return [edge["node"] for edge in (await api.data(INBOX, None, await api.token({"staff": staff})))[
        "departmentInbox"]["edges"]]


async def inbox_ids(api: Api, staff: str) -> list[str]:
    """The ids in the department inbox ``staff`` sees (first 50)."""
    return [node["id"] for node in await inbox_nodes(api, staff)]
