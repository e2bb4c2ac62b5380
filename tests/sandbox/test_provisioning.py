"""Approval provisions a sandbox, once: ids and namespace, an OIDC client with exact redirect URIs, the provider's
staff logins and synthetic test citizens of every age group with test face samples. Approving twice, or a worker
killed mid-provisioning, still gives one sandbox; the issued client completes authorization code + PKCE."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from client import STANDARD, Api
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.catalogue import load_catalogue
from onestop.engine import Engine, Principal
from onestop.engine.db import SandboxMemberRow, SandboxRow
from onestop.engine.dev.login import pkce_challenge
from onestop.engine.sandbox import Sandbox, SandboxService, age_group_spans, ids_for
from onestop.engine.temporal import build_worker
from onestop.graphql.relay import from_global_id, to_global_id
from onestop.workflows.sandbox import (
    ProvisionRequest,
    SandboxProvisioningWorkflow,
    SandboxStaffRequest,
    provisioning_workflow_id,
)

from .conftest import DECIDE, apply_to_join

REDIRECT = "https://parking.example.com/callback"
ROOT = Path(__file__).resolve().parents[2]


async def _approve(api: Api, organisation: str, citizen: str = "wong-ka-fai") -> tuple[str, Sandbox]:
    application = await apply_to_join(api, citizen, organisation, REDIRECT)
    officer = await api.token({"staff": "platform-officer"})
    decided = (await api.data(DECIDE, {"id": application["id"], "status": "APPROVED"}, officer))[
        "updateApplicationStatus"
    ]
    assert decided["userErrors"] == [], decided
    decoded = from_global_id(application["id"])
    assert decoded is not None
    return decoded[1], await _sandbox(api, decoded[1])


async def _sandbox(api: Api, application_id: str) -> Sandbox:
    engine: Engine = api.engine
    assert engine.sandbox is not None
    found = await engine.sandbox.sandbox_of(application_id)
    assert found is not None, "approval provisioned no sandbox"
    return found


async def _counts(engine: Engine, provider_id: str) -> tuple[int, int]:
    async with engine.database.session() as session:
        sandboxes = await session.scalar(
            select(func.count()).select_from(SandboxRow).where(SandboxRow.provider_id == provider_id)
        )
        members = await session.scalar(
            select(func.count()).select_from(SandboxMemberRow).where(SandboxMemberRow.provider_id == provider_id)
        )
    return int(sandboxes or 0), int(members or 0)


def _spawn(address: str, queue: str, definitions: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own test helper, fixed arguments
        [sys.executable, "-m", "tests.sandbox.worker_process", address, queue, str(definitions), str(data_dir)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def engine_api(api: Api, running: tuple[Engine, Client]) -> Api:
    api.engine = running[0]
    return api


async def test_approval_provisions_a_sandbox(engine_api: Api, definitions_dir: Path) -> None:
    application_id, sandbox = await _approve(engine_api, "Provision Test Ltd")
    ids = ids_for(application_id)
    assert (sandbox.provider_id, sandbox.namespace, sandbox.client_id) == (
        ids.provider_id,
        ids.namespace,
        ids.client_id,
    )
    assert sandbox.organisation == "Provision Test Ltd"
    assert sandbox.redirect_uris == (REDIRECT,)
    assert len(sandbox.client_secret) >= 32
    assert [s.name for s in sandbox.staff] == ["Lee Siu Ming", "Ho Ka Yan"]
    assert all(s.department == sandbox.namespace and "approver" in s.roles for s in sandbox.staff)
    catalogue = load_catalogue(definitions_dir)
    groups = {g.id for g in catalogue.taxonomy.age_groups}
    today = date.today()
    ages = {
        catalogue.age_group_for(_age(c.date_of_birth, today)).id
        for c in sandbox.citizens
        if c.date_of_birth is not None
    }
    assert ages == groups  # one synthetic citizen in every age group


def _age(born: Any, today: Any) -> int:
    return int(today.year - born.year - ((today.month, today.day) < (born.month, born.day)))


async def test_the_secret_is_stored_encrypted_and_as_a_hash_only(engine_api: Api) -> None:
    _application_id, sandbox = await _approve(engine_api, "Encrypted Secrets Ltd", "lee-mei-ling")
    async with engine_api.engine.database.session() as session:
        row = await session.get(SandboxRow, sandbox.provider_id)
        members = (
            await session.scalars(select(SandboxMemberRow).where(SandboxMemberRow.provider_id == sandbox.provider_id))
        ).all()
    assert row is not None
    stored = " ".join([row.details, row.client_secret_hash, *(m.details for m in members)])
    for plain in (sandbox.client_secret, "Encrypted Secrets Ltd", "dev@example.com", "Lee Siu Ming"):
        assert plain not in stored


async def test_approving_twice_gives_one_sandbox(engine_api: Api) -> None:
    engine: Engine = engine_api.engine
    assert engine.sandbox is not None
    assert engine.applications is not None
    application_id, sandbox = await _approve(engine_api, "Twice Ltd")
    before = await _counts(engine, sandbox.provider_id)
    officer = await engine_api.token({"staff": "platform-officer"})
    principal = await engine.tokens.verify(officer["Authorization"].split()[1])
    view = await engine.applications.get_for_staff(principal, application_id)
    results = await asyncio.gather(*(engine.sandbox.provision(principal, view) for _ in range(3)))
    assert {r.provider_id for r in results} == {sandbox.provider_id}
    assert await _counts(engine, sandbox.provider_id) == before == (1, 2 + 4)
    # A second approval of the decided application is refused; the sandbox stays one.
    again = (
        await engine_api.data(
            DECIDE, {"id": to_global_id("Application", application_id), "status": "APPROVED"}, officer
        )
    )["updateApplicationStatus"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_TRANSITION"]
    assert await _counts(engine, sandbox.provider_id) == before


async def test_only_the_platform_team_provisions(engine_api: Api) -> None:
    engine: Engine = engine_api.engine
    assert engine.sandbox is not None
    assert engine.applications is not None
    application_id, _ = await _approve(engine_api, "Role Check Ltd")
    platform = await engine.tokens.verify(
        (await engine_api.token({"staff": "platform-officer"}))["Authorization"].split()[1]
    )
    view = await engine.applications.get_for_staff(platform, application_id)
    other = Principal(
        sub="x",
        kind="staff",
        acr=STANDARD,
        amr=("pwd",),
        auth_time=platform.auth_time,
        department="PLATFORM",
        roles=("approver",),
    )
    with pytest.raises(Exception, match="'platform' staff role"):
        await engine.sandbox.provision(other, view)


async def test_a_worker_killed_mid_provisioning_still_gives_one_sandbox(
    running: tuple[Engine, Client], temporal_env: WorkflowEnvironment, definitions_dir: Path
) -> None:
    engine, client = running
    queue = f"sandbox-kill-{uuid.uuid4()}"
    service = SandboxService(
        engine.database, engine.data.cipher, lambda: age_group_spans(engine.catalogue.catalogue), client, queue
    )
    application_id = f"app-kill-{uuid.uuid4().hex}"
    request = ProvisionRequest(
        application_id,
        "Killed Worker Ltd",
        "private",
        "hong-kong",
        "Chan Tai Man",
        "dev@example.com",
        [REDIRECT],
        [SandboxStaffRequest("Lee Siu Ming", "lee@example.com")],
        age_group_spans(engine.catalogue.catalogue),
    )
    address = temporal_env.client.service_client.config.target_host
    worker = _spawn(address, queue, definitions_dir, engine.settings.data_dir)
    try:
        handle = await client.start_workflow(
            SandboxProvisioningWorkflow.run, request, id=provisioning_workflow_id(application_id), task_queue=queue
        )
        assert worker.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 60)
        assert line.strip() == b"sandbox"  # the sandbox row is written; the logins are not
        provider_id = ids_for(application_id).provider_id
        assert await _counts(engine, provider_id) == (1, 0)
    finally:
        worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
    async with build_worker(client, queue, service.activities().all()):
        result = await asyncio.wait_for(handle.result(), 60)
    assert result.provider_id == provider_id
    assert await _counts(engine, provider_id) == (1, 1 + 4)


async def test_the_issued_client_completes_authorization_code_with_pkce(engine_api: Api) -> None:
    engine: Engine = engine_api.engine
    _, sandbox = await _approve(engine_api, "OIDC Client Ltd", "lee-mei-ling")
    citizen = sandbox.citizens[0].login
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": sandbox.client_id,
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    http = engine_api.client
    # A redirect URI the client did not register, even a prefix of one, is refused.
    for wrong in (REDIRECT + "/evil", "https://parking.example.com/", "http://127.0.0.1/callback"):
        refused = await http.get("/dev-idp/authorize", params={**params, "redirect_uri": wrong})
        assert refused.status_code == 400, wrong
    page = await http.get("/dev-idp/authorize", params=params)
    assert page.status_code == 200
    form = {k: v for k, v in params.items() if k not in {"response_type", "code_challenge_method"}}
    signed_in = await http.post("/dev-idp/authorize", data={**form, "citizen": citizen, "acr": STANDARD})
    assert signed_in.status_code == 303, signed_in.text
    location = urlsplit(signed_in.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    code = parse_qs(location.query)["code"][0]
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": sandbox.client_id,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    # Without the client secret the code is not redeemed (nor spent).
    assert (await http.post("/dev-idp/token", data=redeem)).status_code == 401
    assert (await http.post("/dev-idp/token", data={**redeem, "client_secret": "wrong"})).status_code == 401
    token = await http.post("/dev-idp/token", data={**redeem, "client_secret": sandbox.client_secret})
    assert token.status_code == 200, token.text
    principal = await engine.tokens.verify(token.json()["access_token"])
    assert principal.is_citizen
    assert principal.acr == STANDARD


async def test_a_test_citizen_has_a_face_sample_for_step_up(engine_api: Api) -> None:
    _, sandbox = await _approve(engine_api, "Face Samples Ltd")
    citizen = sandbox.citizens[-1].login
    face = next(a.acr for a in engine_api.engine.catalogue.catalogue.taxonomy.assurance_levels if a.id == "face")
    matcher: Any = engine_api.engine.identity_provider
    selfie = matcher.face_samples(citizen)["match"]
    response = await engine_api.request(
        "POST", "/dev-idp/token", json={"citizen": citizen, "acr": face, "selfie": selfie}
    )
    assert response.status_code == 200, response.text
    staff = await engine_api.request("POST", "/dev-idp/token", json={"staff": sandbox.staff[0].login})
    principal = await engine_api.engine.tokens.verify(staff.json()["access_token"])
    assert principal.department == sandbox.namespace
