"""Applying to join the sandbox programme is a service like any other: it runs as a workflow and lands in the
platform team's inbox, which only staff with the `platform` role open."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from client import STANDARD, Api
from temporalio.client import Client

from onestop.catalogue import load_catalogue
from onestop.engine import Engine, Forbidden, Principal

from .conftest import DECIDE, JOIN, apply_to_join, inbox_nodes


def test_the_join_service_is_written_in_the_definitions_language(definitions_dir: Any) -> None:
    service = load_catalogue(definitions_dir).services[JOIN]
    assert service.department == "PLATFORM"
    assert [step.id for step in service.steps] == ["organisation", "contact", "plans", "declarations", "send"]


async def test_an_application_to_join_lands_in_the_platform_teams_inbox(api: Api) -> None:
    application = await apply_to_join(api, "wong-ka-fai", "Join Test Ltd")
    assert application["referenceNumber"]
    inbox: list[dict[str, Any]] = []
    for _ in range(100):  # the inbox index is written by an activity just after the submit
        inbox = await inbox_nodes(api, "platform-officer")
        if any(node["id"] == application["id"] for node in inbox):
            break
        await asyncio.sleep(0.1)
    assert [n["serviceSlug"] for n in inbox if n["id"] == application["id"]] == [JOIN]
    # Other departments' staff never see it, not even the Digital Policy Office's.
    assert application["id"] not in [n["id"] for n in await inbox_nodes(api, "dpo-supervisor")]


async def test_only_staff_with_the_platform_role_open_the_platform_inbox(running: tuple[Engine, Client]) -> None:
    engine, _ = running
    assert engine.applications is not None
    now = datetime.now(UTC)
    member = Principal(
        sub="s",
        kind="staff",
        acr=STANDARD,
        amr=("pwd",),
        auth_time=now,
        department="PLATFORM",
        roles=("caseworker", "approver"),
    )
    with pytest.raises(Forbidden, match="'platform' staff role"):
        await engine.applications.department_inbox(member)
    platform = Principal(
        sub="s", kind="staff", acr=STANDARD, amr=("pwd",), auth_time=now, department="PLATFORM", roles=("platform",)
    )
    await engine.applications.department_inbox(platform)


async def test_a_citizen_cannot_decide_a_join_application(api: Api) -> None:
    application = await apply_to_join(api, "lee-mei-ling", "Decide Test Ltd")
    citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    result = await api.post(DECIDE, {"id": application["id"], "status": "APPROVED"}, citizen)
    assert "errors" in result
