"""A sandbox's test citizens run its services end to end: the application lands in that sandbox's inbox only, its
staff decide it, and nobody else (another provider, a real citizen, other departments) can start, read or decide
it. A sandbox starts at most its daily number of applications."""

from __future__ import annotations

import pytest
from client import STANDARD, Api, codes_of

from onestop.engine.sandbox import Sandbox

from .conftest import DECIDE, approve, inbox_ids, sandbox_citizen, submitted_sandbox_application
from .test_uploads import UPLOAD, b64, service_yaml

START = """mutation($slug: String!) { startSandboxApplication(input: {serviceSlug: $slug}) {
  application { id status department currentStep { id } } userErrors { field code message } } }"""
PUBLIC_START = """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { id } userErrors { field code } } }"""
SUBMIT = """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { id status referenceNumber currentStep { id } } userErrors { field code message } } }"""
GET = "query($id: ID!) { application(id: $id) { id status } }"


@pytest.fixture(scope="module")
async def providers(api: Api) -> tuple[Sandbox, Sandbox]:
    first = (await approve(api, "wong-ka-fai", "Runs Alpha Ltd"))[1]
    second = (await approve(api, "lee-mei-ling", "Runs Beta Ltd"))[1]
    for sandbox, slug in ((first, "sbx-run-alpha"), (second, "sbx-run-beta")):
        headers = await api.token({"staff": sandbox.staff[0].login})
        payload = (await api.data(UPLOAD, {"filename": f"{slug}.yaml", "content": b64(
            service_yaml(slug, sandbox.namespace))}, headers))["uploadSandboxDefinitions"]
        assert payload["problems"] == [], payload
    return first, second






async def _eventually_in(api: Api, staff: str, app_id: str) -> list[str]:
    import asyncio

    inbox: list[str] = []
    for _ in range(100):
        inbox = await inbox_ids(api, staff)
        if app_id in inbox:
            break
        await asyncio.sleep(0.1)
    return inbox


async def test_a_test_citizen_completes_a_sandbox_service_into_its_sandboxs_inbox(
        api: Api, providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, beta = providers
    app = await submitted_sandbox_application(api, alpha, "sbx-run-alpha")
    assert app["id"] in await _eventually_in(api, alpha.staff[0].login, app["id"])
    # Nobody else's inbox has it: the other sandbox's, the platform team's, a department's.
    for staff in (beta.staff[0].login, "platform-officer", "td-officer"):
        assert app["id"] not in await inbox_ids(api, staff)
    # The sandbox's own staff decide it; the other sandbox's staff cannot even find it.
    refused = await api.data(DECIDE, {"id": app["id"], "status": "APPROVED"},
                             await api.token({"staff": beta.staff[0].login}))
    assert [e["code"] for e in refused["updateApplicationStatus"]["userErrors"]] == ["NOT_FOUND"]
    decided = await api.data(DECIDE, {"id": app["id"], "status": "APPROVED"},
                             await api.token({"staff": alpha.staff[0].login}))
    assert decided["updateApplicationStatus"]["userErrors"] == []
    seen = (await api.data(GET, {"id": app["id"]}, await sandbox_citizen(api, alpha)))["application"]
    assert seen["status"] == "APPROVED"


async def test_nobody_else_reads_a_sandbox_application(api: Api, providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, beta = providers
    app = await submitted_sandbox_application(api, alpha, "sbx-run-alpha")
    for headers in (await sandbox_citizen(api, beta), await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})):
        result = await api.post(GET, {"id": app["id"]}, headers)
        assert result.get("data", {}).get("application") is None, result
        node = await api.post("query($id: ID!) { node(id: $id) { id } }", {"id": app["id"]}, headers)
        assert node.get("data", {}).get("node") is None, node


@pytest.mark.parametrize("who", ["beta-citizen", "real-citizen"])
async def test_only_the_sandboxs_test_citizens_start_its_services(
        api: Api, providers: tuple[Sandbox, Sandbox], who: str) -> None:
    _, beta = providers
    if who == "beta-citizen":
        result = await api.data(START, {"slug": "sbx-run-alpha"}, await sandbox_citizen(api, beta))
        assert [e["code"] for e in result["startSandboxApplication"]["userErrors"]] == ["NOT_FOUND"]
    else:
        result = await api.post(START, {"slug": "sbx-run-alpha"},
                                await api.token({"citizen": "wong-ka-fai", "acr": STANDARD}))
        assert codes_of(result) == ["FORBIDDEN"]


async def test_the_public_start_does_not_know_sandbox_services(api: Api, providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, _ = providers
    for headers in (await sandbox_citizen(api, alpha), await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})):
        payload = (await api.data(PUBLIC_START, {"slug": "sbx-run-alpha"}, headers))["startApplication"]
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]


async def test_a_sandbox_starts_at_most_its_daily_applications(api: Api, providers: tuple[Sandbox, Sandbox]) -> None:
    _, beta = providers
    sandbox_service = api.engine.sandbox
    before = sandbox_service.applications_per_day
    sandbox_service.applications_per_day = 1
    try:
        await submitted_sandbox_application(api, beta, "sbx-run-beta")
        result = await api.data(START, {"slug": "sbx-run-beta"}, await sandbox_citizen(api, beta))
        errors = result["startSandboxApplication"]["userErrors"]
        assert [e["code"] for e in errors] == ["SANDBOX_LIMIT"]
        assert "24 hours" in errors[0]["message"]
    finally:
        sandbox_service.applications_per_day = before
