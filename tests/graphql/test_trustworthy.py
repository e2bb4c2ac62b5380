"""Answers the department can trust: the service's assurance level is enforced on every action, eligibility
reads the authoritative record (never the self-declared profile), and prefilled values keep their provenance.

Real pieces: the seed catalogue and test citizens, dev IdP tokens, SQLite, a Temporal dev server and a worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD, Api
from running import dev_settings, running_engine
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.graphql.app import create_app

BASIC = "urn:onestop:acr:basic"

APPLICATION = """
fragment A on Application {
  id status answers
  currentStep { id type fields { id value prefilled source } }
}
"""
START = APPLICATION + """mutation($slug: String!) {
  startApplication(input: {serviceSlug: $slug, clientMutationId: null}) {
    application { ...A } userErrors { field message code } } }"""
GRANT = APPLICATION + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
WITHDRAW = APPLICATION + """mutation($id: ID!) {
  withdrawApplication(input: {applicationId: $id}) { application { ...A } userErrors { field code } } }"""
ACCESS = "{ viewer { dataAccessLog(first: 100) { totalCount } applications(first: 100) { totalCount } } }"


@pytest.fixture(scope="module")
async def engine(temporal_env: WorkflowEnvironment, definitions_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    async with running_engine(temporal_env, dev_settings(definitions_dir, tmp_path_factory.mktemp("trust-data"))) \
            as (built, _client):
        yield built


@pytest.fixture(scope="module")
async def api(engine: Engine) -> AsyncIterator[Api]:
    app = create_app(engine.settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop.test") as client:
        yield Api(client)


def challenge_of(result: dict[str, Any]) -> dict[str, Any]:
    errors = result.get("errors") or []
    assert errors, f"expected a challenge, got {result}"
    extensions: dict[str, Any] = errors[0]["extensions"]
    assert extensions["code"] == "INSUFFICIENT_USER_AUTHENTICATION", errors
    return extensions


@pytest.mark.slow
async def test_a_basic_token_is_challenged_at_start_and_nothing_is_read(api: Api) -> None:
    basic = await api.token({"citizen": "lee-mei-ling", "acr": BASIC})
    refused = await api.post(START, {"slug": "public-rental-housing"}, basic)
    assert challenge_of(refused)["acr_values"] == STANDARD
    assert (refused.get("data") or {}).get("startApplication") is None
    seen = (await api.data(ACCESS, headers=basic))["viewer"]
    assert seen["dataAccessLog"]["totalCount"] == 0
    assert seen["applications"]["totalCount"] == 0


@pytest.mark.slow
async def test_a_downgraded_token_is_challenged_on_every_later_action(api: Api) -> None:
    standard = await api.token({"citizen": "ng-wing-sze", "acr": STANDARD})
    basic = await api.token({"citizen": "ng-wing-sze", "acr": BASIC})
    app = (await api.data(START, {"slug": "public-rental-housing"}, standard))["startApplication"]["application"]
    assert app["currentStep"]["id"] == "records"
    logged = (await api.data(ACCESS, headers=standard))["viewer"]["dataAccessLog"]["totalCount"]

    assert challenge_of(await api.post(GRANT, {"id": app["id"], "step": "records"}, basic))["acr_values"] == STANDARD
    assert (await api.data(ACCESS, headers=standard))["viewer"]["dataAccessLog"]["totalCount"] == logged
    challenge_of(await api.post(SUBMIT, {"id": app["id"], "step": "records", "answers": {}}, basic))
    challenge_of(await api.post(WITHDRAW, {"id": app["id"]}, basic))

    granted = (await api.data(GRANT, {"id": app["id"], "step": "records"}, standard))["grantConsent"]
    assert granted["userErrors"] == []
    assert granted["application"]["currentStep"]["id"] == "applicant"
