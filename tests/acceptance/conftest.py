"""Acceptance fixtures: GraphQL documents and helpers shared by the end-to-end tests of issues 2-4."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import Api
from postgres import postgres_database
from running import dev_settings, running_engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.config import Environment, Settings
from onestop.engine.container import Engine, build_engine
from onestop.engine.crypto.codec import data_converter
from onestop.graphql.app import create_app

APPLICATION = """
fragment A on Application {
  id status referenceNumber definitionVersion definitionHash answers serviceSlug exitMessage
  currentStep {
    id type title description items consentRequired assurance maxAge
    fields {
      id type label required value prefilled source min max pattern after before minItems maxItems
      accept multiple
      options { value label }
      fields { id type label required min max pattern after before options { value label } }
    }
  }
  steps { id type state }
  timeline { at status message }
}
"""
START = APPLICATION + """mutation($slug: String!, $cmid: String, $for: ID) {
  startApplication(input: {serviceSlug: $slug, clientMutationId: $cmid, onBehalfOf: $for}) {
    application { ...A } userErrors { field message code } } }"""
GRANT = APPLICATION + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) {
    application { ...A } userErrors { field message code } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
STEP_UP = APPLICATION + """mutation($id: ID!, $step: String!) {
  completeStepUp(input: {applicationId: $id, stepId: $step}) {
    application { ...A } userErrors { field message code } } }"""
GET = APPLICATION + "query($id: ID!) { application(id: $id) { ...A } }"
BOOK = APPLICATION + """mutation($id: ID!, $step: String!, $office: String!, $start: DateTime!) {
  bookAppointment(input: {applicationId: $id, stepId: $step, office: $office, start: $start}) {
    application { ...A } userErrors { field message code } } }"""
OFFICES = """query($id: ID!) { application(id: $id) { currentStep { appointment { offices { value } } } } }"""
OFFERED = """query($id: ID!, $office: String!, $from: Date!, $to: Date) { application(id: $id) { currentStep {
  appointment { availability(office: $office, from: $from, to: $to) { start remaining } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id __typename ... on Application { status answers } } }"
INBOX = """query($status: ApplicationStatus) { departmentInbox(first: 50, status: $status) {
  totalCount edges { node { id status referenceNumber serviceSlug } } } }"""
DECIDE = """mutation($id: ID!, $status: ApplicationStatus!, $message: String) {
  updateApplicationStatus(input: {applicationId: $id, status: $status, message: $message}) {
    application { id status timeline { status message } } userErrors { field message code } } }"""
CONSENTS = """{ viewer { consents { id consentId serviceSlug status applicationId
  items { provider item } } } }"""
ACCESS_LOG = """{ viewer { dataAccessLog(first: 100) { totalCount edges { node {
  serviceSlug provider outcome consentId applicationId items { provider item } } } } } }"""
REVOKE = """mutation($id: ID!) { revokeConsent(input: {consentId: $id}) {
  consent { id status revokedAt } receipt { consentId revokedAt signature } userErrors { field message code } } }"""


ONESTOP = Path(sys.executable).parent / "onestop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class System:
    """The whole product in this process, over one real Temporal dev server."""

    api: Api
    engine: Engine
    temporal: WorkflowEnvironment
    client: Client  # with the payload codec, as onestop uses it

    @property
    def raw_client(self) -> Client:
        """A client without the codec: what anyone reading Temporal's storage sees."""
        return self.temporal.client


@pytest.fixture(scope="session")
def temporal(temporal_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """The session's one Temporal dev server (tests/conftest.py)."""
    return temporal_env


@pytest.fixture(scope="session")
async def system(temporal: WorkflowEnvironment, definitions_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    settings = dev_settings(definitions_dir, tmp_path_factory.mktemp("acceptance-data"))
    async with running_engine(temporal, settings, http_timeout=30) as (engine, client), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, engine)), base_url="http://onestop.test",
            timeout=60) as asgi:
        yield System(Api(asgi), engine, temporal, client)


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the module's onestop processes (dropped afterwards); its URL."""
    async with postgres_database() as url:
        yield url


@asynccontextmanager
async def api_beside_workers(
    temporal: WorkflowEnvironment, data_dir: Path, database_url: str, queue: str, **options: Any
) -> AsyncIterator[tuple[dict[str, str], Settings, Client, Engine]]:
    """A migrated database for `onestop worker` processes, and the engine of an API in this process (no worker of
    its own) beside them: the workers' environment, the settings, the codec client and the engine. ``options`` are
    settings both sides get (as ``ONESTOP_<NAME>`` for the processes). Stop the workers before the block ends."""
    env = {
        **os.environ,
        "ONESTOP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "ONESTOP_DATABASE_URL": database_url,
        "ONESTOP_DATA_DIR": str(data_dir),
        "ONESTOP_ENV": "development",
        "ONESTOP_TEMPORAL_TASK_QUEUE": queue,
        **{f"ONESTOP_{name.upper()}": str(value) for name, value in options.items()},
    }
    await asyncio.to_thread(
        subprocess.run, [str(ONESTOP), "migrate"], env=env, check=True, capture_output=True, timeout=60
    )
    settings = Settings(
        env=Environment.DEVELOPMENT, data_dir=data_dir, database_url=database_url, temporal_task_queue=queue, **options
    )
    config = temporal.client.config()
    config["data_converter"] = data_converter(settings.key_bytes("codec_key"))
    client = Client(**config)
    engine = await build_engine(settings, client)
    try:
        yield env, settings, client, engine
    finally:
        await engine.close()
