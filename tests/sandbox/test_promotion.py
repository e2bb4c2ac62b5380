"""Going live, through GraphQL over HTTP on the real Temporal dev server: a provider asks that a tested sandbox
service join the public catalogue, the platform team approves (it appears in the public catalogue, on another
replica too) or rejects it with a reason; what goes live is exactly the version tested, and every step is a
security event with who, when and the content hash."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from client import STANDARD, Api, codes_of
from running import dev_settings, running_engine
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine, build_engine
from onestop.engine.db import SandboxPromotionRow, SecurityEventRow
from onestop.engine.identity.principal import Principal
from onestop.engine.sandbox import Sandbox
from onestop.graphql.relay import from_global_id, to_global_id
from onestop.workflows.promotion import PublishInput

from .conftest import approve, submitted_sandbox_application
from .test_uploads import UPLOAD, b64, service_yaml

PROMOTION = """id serviceSlug version contentHash namespace status checks { name passed detail }
  requestedBy decidedBy decidedAt reason catalogueVersion"""
REQUEST = f"""mutation($slug: String!, $version: Int, $hash: String) {{
  requestSandboxPromotion(input: {{serviceSlug: $slug, version: $version, contentHash: $hash}}) {{
    promotion {{ {PROMOTION} }} userErrors {{ field code message }} }} }}"""
APPROVE = f"""mutation($id: ID!) {{ approveSandboxPromotion(input: {{promotionId: $id}}) {{
    promotion {{ {PROMOTION} }} userErrors {{ field code message }} }} }}"""
REJECT = f"""mutation($id: ID!, $reason: String!) {{
  rejectSandboxPromotion(input: {{promotionId: $id, reason: $reason}}) {{
    promotion {{ {PROMOTION} }} userErrors {{ field code message }} }} }}"""
LIST = f"""query($status: SandboxPromotionStatus) {{ sandboxPromotions(status: $status, first: 50) {{
    totalCount edges {{ node {{ {PROMOTION} }} }} }} }}"""
PUBLIC = "query($slug: String!) { service(slug: $slug) { slug title contentHash department { code name } } }"


@pytest.fixture(scope="module")
def live_tree(tmp_path_factory: pytest.TempPathFactory, definitions_dir: Path) -> Path:
    """A copy of the seed definitions: approval writes into the live tree."""
    tree = tmp_path_factory.mktemp("live") / "definitions"
    shutil.copytree(definitions_dir, tree, ignore=shutil.ignore_patterns("schema"))
    return tree


@pytest.fixture(scope="module")
async def running(
    temporal_env: WorkflowEnvironment, live_tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Engine, Client]]:
    settings = dev_settings(live_tree, tmp_path_factory.mktemp("promotion-data"), catalogue_watch_seconds=0.2)
    async with running_engine(temporal_env, settings) as (built, client):
        yield built, client


@pytest.fixture(scope="module")
async def replica(running: tuple[Engine, Client], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    """Another API process on the same database (no Temporal of its own), with a definitions tree of its own: the
    promotions reach it through the database."""
    engine, _ = running
    tree = tmp_path_factory.mktemp("replica") / "definitions"
    shutil.copytree(engine.settings.definitions, tree)
    other = await build_engine(engine.settings.model_copy(update={"definitions": tree}))
    yield other
    await other.close()


@pytest.fixture(scope="module")
async def provider(api: Api) -> Sandbox:
    return (await approve(api, "chan-siu-ming", "Golden Harbour Parking Ltd"))[1]


async def _upload(api: Api, sandbox: Sandbox, slug: str, text: str) -> dict[str, Any]:
    headers = await api.token({"staff": sandbox.staff[0].login})
    payload = (await api.data(UPLOAD, {"filename": f"{slug}.yaml", "content": b64(text)}, headers))[
        "uploadSandboxDefinitions"
    ]
    assert payload["problems"] == [], payload
    assert payload["userErrors"] == [], payload
    version: dict[str, Any] = payload["version"]
    return version


async def _tested(api: Api, sandbox: Sandbox, slug: str) -> None:
    """A test citizen completes the service, and the index has it as submitted."""
    await submitted_sandbox_application(api, sandbox, slug)
    promotions = api.engine.sandbox.promotions
    for _ in range(100):
        hashes = await _hashes(api, sandbox, slug)
        if any([await promotions.completed_test_runs(sandbox.provider_id, slug, h) for h in hashes]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the test application was never indexed as submitted")


async def _hashes(api: Api, sandbox: Sandbox, slug: str) -> list[str]:
    catalogue = await api.engine.sandbox.catalogues.catalogue(sandbox.provider_id)
    service = catalogue.service(slug) if catalogue is not None else None
    return [service.content_hash] if service is not None else []


async def _request(api: Api, sandbox: Sandbox, slug: str, **variables: Any) -> dict[str, Any]:
    headers = await api.token({"staff": sandbox.staff[0].login})
    payload: dict[str, Any] = (await api.data(REQUEST, {"slug": slug, **variables}, headers))["requestSandboxPromotion"]
    return payload


async def _platform(api: Api) -> dict[str, str]:
    return await api.token({"staff": "platform-officer"})


async def _sub(api: Api, staff: str) -> str:
    """The subject of ``staff``'s access token: what decisions and events name them by."""
    token = (await api.token({"staff": staff}))["Authorization"].removeprefix("Bearer ")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return str(claims["sub"])


async def _public(api: Api, slug: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.data(PUBLIC, {"slug": slug}))["service"]
    return found


async def _events(engine: Engine, promotion_id: str) -> list[SecurityEventRow]:
    """The promotion's security events (``promotion_id`` its global id, or its own)."""
    decoded = from_global_id(promotion_id)
    if decoded is not None and decoded[0] == "SandboxPromotion":
        promotion_id = decoded[1]
    await engine.security.events.flush()
    async with engine.database.session() as session:
        rows = (
            await session.scalars(
                select(SecurityEventRow)
                .where(SecurityEventRow.kind == "sandbox.promotion")
                .order_by(SecurityEventRow.id)
            )
        ).all()
    return [row for row in rows if row.detail.get("promotion") == promotion_id]


async def test_an_approved_promotion_goes_live_exactly_as_tested_on_every_replica(
    api: Api, provider: Sandbox, replica: Engine
) -> None:
    slug = "sbx-live-permit"
    first = await _upload(api, provider, slug, service_yaml(slug, provider.namespace))
    pinned = (await _hashes(api, provider, slug))[0]

    # Not tested yet: the checks say so, and nobody can approve it.
    untested = await _request(api, provider, slug)
    assert untested["userErrors"] == [], untested
    promotion = untested["promotion"]
    assert promotion["status"] == "CHECKS_FAILED", promotion
    assert {c["name"]: c["passed"] for c in promotion["checks"]} == {
        "validated": True,
        "tested": False,
        "fits-live": True,
    }
    refused = (await api.data(APPROVE, {"id": promotion["id"]}, await _platform(api)))["approveSandboxPromotion"]
    assert [e["code"] for e in refused["userErrors"]] == ["PROMOTION_DECIDED"], refused

    await _tested(api, provider, slug)
    asked = await _request(api, provider, slug, version=first["version"], hash=pinned)
    promotion = asked["promotion"]
    assert asked["userErrors"] == [], asked
    assert promotion["status"] == "AWAITING_APPROVAL", asked
    assert promotion["contentHash"] == pinned
    assert all(c["passed"] for c in promotion["checks"])
    again = await _request(api, provider, slug, version=first["version"])
    assert again["promotion"]["id"] == promotion["id"]  # asking again joins the same promotion

    # After the request the provider uploads a changed version: the promotion stays pinned to the one tested.
    changed = service_yaml(slug, provider.namespace).replace(f"Parking permit {slug}", "Changed after the request")
    second = await _upload(api, provider, slug, changed)
    assert second["version"] == first["version"] + 1
    assert await _public(api, slug) is None

    approved = (await api.data(APPROVE, {"id": promotion["id"]}, await _platform(api)))["approveSandboxPromotion"]
    assert approved["userErrors"] == [], approved
    live = approved["promotion"]
    officer = await _sub(api, "platform-officer")
    assert live["status"] == "LIVE"
    assert live["decidedBy"] == officer
    assert live["catalogueVersion"]
    public = await _public(api, slug)
    assert public is not None
    assert public["contentHash"] == pinned
    assert public["title"] == f"Parking permit {slug}"  # the tested version's, not the later upload's
    assert public["department"]["code"] == provider.namespace
    assert public["department"]["name"] == "Golden Harbour Parking Ltd"
    assert (
        api.engine.settings.definitions / "services" / "providers" / provider.namespace.lower() / f"{slug}.yaml"
    ).is_file()

    # Another replica on the same database follows the reload it announced.
    for _ in range(100):
        if replica.catalogue.catalogue.service(slug) is not None:
            break
        await asyncio.sleep(0.1)
    served = replica.catalogue.catalogue.service(slug)
    assert served is not None
    assert served.content_hash == pinned
    assert (
        replica.settings.definitions / "services" / "providers" / provider.namespace.lower() / f"{slug}.yaml"
    ).is_file()

    # Approving again changes nothing; rejecting a live promotion is refused.
    twice = (await api.data(APPROVE, {"id": promotion["id"]}, await _platform(api)))["approveSandboxPromotion"]
    assert twice["userErrors"] == []
    assert twice["promotion"] == live
    late = (await api.data(REJECT, {"id": promotion["id"], "reason": "Too late"}, await _platform(api)))[
        "rejectSandboxPromotion"
    ]
    assert [e["code"] for e in late["userErrors"]] == ["PROMOTION_DECIDED"]

    # Every step is recorded: who (a pseudonymous staff key), when and the content hash.
    events = await _events(api.engine, promotion["id"])
    assert [e.outcome for e in events] == ["requested", "checks_failed", "requested", "checked", "approved", "live"]
    assert all(e.detail["content_hash"] == pinned and e.service == slug for e in events)
    keys = api.engine.security.events
    assert [e.staff for e in events[-2:]] == [keys.staff_key(officer)] * 2
    assert events[0].staff == events[2].staff == keys.staff_key(await _sub(api, provider.staff[0].login))
    assert all(e.at is not None for e in events)


@pytest.mark.parametrize("who", ["td-supervisor", "provider-staff"])
async def test_only_the_platform_team_decides(api: Api, provider: Sandbox, who: str) -> None:
    slug = f"sbx-live-{who}"
    await _upload(api, provider, slug, service_yaml(slug, provider.namespace))
    await _tested(api, provider, slug)
    promotion = (await _request(api, provider, slug))["promotion"]
    assert promotion["status"] == "AWAITING_APPROVAL", promotion
    staff = provider.staff[0].login if who == "provider-staff" else who
    headers = await api.token({"staff": staff})
    for query, variables in ((APPROVE, {"id": promotion["id"]}), (REJECT, {"id": promotion["id"], "reason": "No"})):
        assert codes_of(await api.post(query, variables, headers)) == ["FORBIDDEN"]
    # Nobody but the platform team and the provider's own staff can read it.
    node = "query($id: ID!) { node(id: $id) { id ... on SandboxPromotion { status } } }"
    for reader, seen in (("td-supervisor", False), (provider.staff[0].login, True), ("platform-officer", True)):
        found = (await api.data(node, {"id": promotion["id"]}, await api.token({"staff": reader})))["node"]
        assert (found is not None) is seen, (reader, found)
    # The citizen-facing catalogue never got it, and the promotion still waits.
    assert await _public(api, slug) is None
    listed = (await api.data(LIST, {"status": "AWAITING_APPROVAL"}, await _platform(api)))["sandboxPromotions"]
    assert promotion["id"] in [edge["node"]["id"] for edge in listed["edges"]]


async def test_a_rejected_promotion_stays_out_with_its_reason(api: Api, provider: Sandbox) -> None:
    slug = "sbx-live-rejected"
    await _upload(api, provider, slug, service_yaml(slug, provider.namespace))
    await _tested(api, provider, slug)
    promotion = (await _request(api, provider, slug))["promotion"]
    blank = (await api.data(REJECT, {"id": promotion["id"], "reason": "  "}, await _platform(api)))[
        "rejectSandboxPromotion"
    ]
    assert [(e["field"], e["code"]) for e in blank["userErrors"]] == [(["input", "reason"], "REQUIRED")]
    reason = "The summary must say who may apply."
    rejected = (await api.data(REJECT, {"id": promotion["id"], "reason": reason}, await _platform(api)))[
        "rejectSandboxPromotion"
    ]
    assert rejected["userErrors"] == [], rejected
    assert rejected["promotion"]["status"] == "REJECTED"
    assert rejected["promotion"]["reason"] == reason
    assert await _public(api, slug) is None
    # The provider sees why; asking again for the same definition is refused, approving it too.
    mine = (await api.data(LIST, {"status": "REJECTED"}, await api.token({"staff": provider.staff[0].login})))[
        "sandboxPromotions"
    ]
    assert reason in [edge["node"]["reason"] for edge in mine["edges"]]
    again = await _request(api, provider, slug)
    assert [e["code"] for e in again["userErrors"]] == ["PROMOTION_DECIDED"]
    assert reason in again["userErrors"][0]["message"]
    late = (await api.data(APPROVE, {"id": promotion["id"]}, await _platform(api)))["approveSandboxPromotion"]
    assert [e["code"] for e in late["userErrors"]] == ["PROMOTION_DECIDED"]
    events = await _events(api.engine, promotion["id"])
    assert [e.outcome for e in events] == ["requested", "checked", "rejected"]
    assert events[-1].staff == api.engine.security.events.staff_key(await _sub(api, "platform-officer"))


async def test_a_hash_other_than_the_versions_is_refused(api: Api, provider: Sandbox) -> None:
    slug = "sbx-live-hash"
    version = await _upload(api, provider, slug, service_yaml(slug, provider.namespace))
    payload = await _request(api, provider, slug, version=version["version"], hash="0" * 64)
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "contentHash"], "CONTENT_HASH_MISMATCH")
    ]
    unknown = await _request(api, provider, "sbx-no-such-service")
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [(["input", "serviceSlug"], "NOT_FOUND")]
    for bogus in ("not-an-id", to_global_id("Service", "renew-driving-licence"), to_global_id("SandboxPromotion", "x")):
        refused = (await api.data(APPROVE, {"id": bogus}, await _platform(api)))["approveSandboxPromotion"]
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "promotionId"], "NOT_FOUND")]


async def test_a_citizen_cannot_request_or_list_promotions(api: Api, provider: Sandbox) -> None:
    citizen = await api.token({"citizen": "chan-siu-ming", "acr": "urn:onestop:acr:standard"})
    assert codes_of(await api.post(REQUEST, {"slug": "sbx-live-permit"}, citizen)) == ["FORBIDDEN"]
    assert codes_of(await api.post(LIST, {}, citizen)) == ["FORBIDDEN"]


START = """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { id definitionHash } userErrors { field code message } } }"""
SUBMIT = """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { id status definitionHash } userErrors { field code message } } }"""


async def _approved(api: Api, provider: Sandbox, slug: str, text: str) -> str:
    """Upload ``text``, test it, ask and have it approved: the content hash now live."""
    await _upload(api, provider, slug, text)
    await _tested(api, provider, slug)
    promotion = (await _request(api, provider, slug))["promotion"]
    assert promotion["status"] == "AWAITING_APPROVAL", promotion
    approved = (await api.data(APPROVE, {"id": promotion["id"]}, await _platform(api)))["approveSandboxPromotion"]
    assert approved["promotion"]["status"] == "LIVE", approved
    return str(promotion["contentHash"])


async def test_a_new_version_goes_live_and_running_applications_keep_theirs(api: Api, provider: Sandbox) -> None:
    slug = "sbx-live-update"
    first = await _approved(api, provider, slug, service_yaml(slug, provider.namespace))
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    started = (await api.data(START, {"slug": slug}, citizen))["startApplication"]
    assert started["userErrors"] == [], started
    application = started["application"]
    assert application["definitionHash"] == first

    changed = service_yaml(slug, provider.namespace).replace("version: 1", "version: 2")
    second = await _approved(api, provider, slug, changed.replace(f"Parking permit {slug}", "Parking permit v2"))
    assert second != first
    public = await _public(api, slug)
    assert public is not None
    assert (public["contentHash"], public["title"]) == (second, "Parking permit v2")

    # The application started on the first version finishes on it.
    for step, answers in (("car", {"plate": "XY 987"}), ("send", {})):
        payload = (await api.data(SUBMIT, {"id": application["id"], "step": step, "answers": answers}, citizen))[
            "submitStep"
        ]
        assert payload["userErrors"] == [], payload
    assert payload["application"]["status"] == "SUBMITTED"
    assert payload["application"]["definitionHash"] == first


async def test_publishing_again_after_a_worker_died_mid_way_writes_nothing_twice(api: Api, provider: Sandbox) -> None:
    slug = "sbx-live-retried"
    pinned = await _approved(api, provider, slug, service_yaml(slug, provider.namespace))
    promotions = api.engine.sandbox.promotions
    listed, _ = await promotions.list(await _platform_principal(api))
    promotion = next(p for p in listed if p.service_slug == slug)
    written = api.engine.settings.definitions / "services" / "providers" / provider.namespace.lower() / f"{slug}.yaml"
    before = written.stat().st_mtime_ns
    # As if the worker had died after writing the files and before recording LIVE: the retry finds them in place.
    async with api.engine.database.session() as session:
        row = await session.get(SandboxPromotionRow, promotion.promotion_id)
        assert row is not None
        row.status = "PUBLISHING"
    result = await promotions.steps.publish(PublishInput(promotion.promotion_id, promotion.decided_by or ""))
    assert result.catalogue_version == api.engine.catalogue.catalogue.version
    assert written.stat().st_mtime_ns == before
    again = await promotions.get(await _platform_principal(api), promotion.promotion_id)
    assert again.status == "LIVE"
    assert again.content_hash == pinned
    outcomes = [e.outcome for e in await _events(api.engine, promotion.promotion_id)]
    assert outcomes.count("approved") == 1


async def _platform_principal(api: Api) -> Principal:
    token = (await _platform(api))["Authorization"].removeprefix("Bearer ")
    return await api.engine.tokens.verify(token)


async def test_a_live_tree_that_no_longer_takes_it_fails_the_promotion_and_keeps_the_old_files(
    api: Api, provider: Sandbox
) -> None:
    slug = "sbx-live-clash"
    await _upload(api, provider, slug, service_yaml(slug, provider.namespace))
    await _tested(api, provider, slug)
    promotion = (await _request(api, provider, slug))["promotion"]
    assert promotion["status"] == "AWAITING_APPROVAL", promotion
    # Meanwhile a department publishes a service of the same id: the promoted file would make it a duplicate.
    tree = api.engine.settings.definitions
    taken = tree / "services" / "transport" / f"{slug}.yaml"
    taken.write_text(service_yaml(slug, "TD"), encoding="utf-8")
    try:
        failed = (await api.data(APPROVE, {"id": promotion["id"]}, await _platform(api)))["approveSandboxPromotion"]
        assert failed["userErrors"] == [], failed
        assert failed["promotion"]["status"] == "FAILED", failed
        assert "put back" in failed["promotion"]["reason"]
        assert not (tree / "services" / "providers" / provider.namespace.lower() / f"{slug}.yaml").exists()
        public = await _public(api, slug)
        assert public is not None
        assert public["department"]["code"] == "TD"  # the department's, not the promoted one
        events = await _events(api.engine, promotion["id"])
        assert [e.outcome for e in events] == ["requested", "checked", "approved", "failed"]
    finally:
        taken.unlink()
        await api.engine.catalogue.reload()
