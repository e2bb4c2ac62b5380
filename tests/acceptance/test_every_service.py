"""Issue 4 "done when": a citizen can complete every seed service through GraphQL, a department officer sees
and decides it, and the citizen sees the decision.

The citizen here is generic: it reads only `currentStep` as a frontend would, answers each field by its type
and bounds, grants consents, and steps up with whatever token the RFC 9470 challenge asks for. When the answers
lead to an `exit` step it varies one earlier choice at a time; when a citizen is not eligible it tries another.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from client import STANDARD

from onestop.catalogue import load_catalogue

from .answers import NoDependent, Refused, Run, drive
from .conftest import DECIDE, GET, INBOX, START, System

pytestmark = pytest.mark.slow

CATALOGUE = load_catalogue(Path(__file__).resolve().parents[2] / "definitions")
WITH_LOGIN = [s.id for s in CATALOGUE.services.values() if s.login != "none"]
WITHOUT_LOGIN = [s.id for s in CATALOGUE.services.values() if s.login == "none"]
SERVICE = """query($slug: String!) { service(slug: $slug) {
  slug loginRequired eligibility department { code } ageGroups { id } steps { id type title } } }"""


def test_the_seed_catalogue_has_services_on_both_sides_of_login() -> None:
    assert len(WITH_LOGIN) >= 20
    assert WITHOUT_LOGIN


def _at_exit(run: Run) -> bool:
    """Not eligible: refused at the start, or on an exit page (a draft the citizen could go back from)."""
    step = run.application["currentStep"]
    return run.application["status"] == "NOT_ELIGIBLE" or (step is not None and step["type"] == "EXIT")


async def _complete(system: System, slug: str, lang: str = "en") -> tuple[str, Run, list[str]]:
    api = system.api
    service = (await api.data(SERVICE, {"slug": slug}))["service"]
    ages = {a["id"] for a in service["ageGroups"]}
    citizens = sorted(await api.citizens(), key=lambda c: (c["ageGroup"] not in ages, c["age"]))
    today = datetime.now(UTC).date()
    tried: list[str] = []
    for citizen in citizens:
        headers = await api.token({"citizen": citizen["id"], "acr": STANDARD}, lang)
        try:
            run = await drive(api, slug, citizen["id"], today, start_headers=headers)
        except NoDependent:
            tried.append(f"{citizen['id']}: acts for no one the service accepts")
            continue
        attempts = 1
        if _at_exit(run) and not any(s["state"] == "DONE" for s in run.application["steps"]):
            tried.append(f"{citizen['id']} (age {citizen['age']}): not eligible at start")
            continue
        # an exit reached through answers: change one earlier choice at a time
        alternatives = [(f, v) for f, n in reversed(run.varied) for v in range(1, n)]
        while _at_exit(run) and alternatives and attempts < 25:
            field, index = alternatives.pop(0)
            run = await drive(api, slug, citizen["id"], today, {field: index}, start_headers=headers)
            attempts += 1
        if run.application["status"] == "SUBMITTED":
            return citizen["id"], run, tried
        tried.append(f"{citizen['id']}: ended {run.application['status']} after {attempts} attempts "
                     f"({run.application.get('exitMessage')})")
    pytest.fail(f"{slug}: no test citizen could complete it: {tried}")


@pytest.mark.parametrize("slug", WITH_LOGIN)
async def test_a_citizen_completes_the_service_and_its_department_decides_it(system: System, slug: str) -> None:
    api = system.api
    citizen, run, _ = await _complete(system, slug)
    app = run.application
    assert app["status"] == "SUBMITTED"
    assert app["referenceNumber"], app
    assert app["serviceSlug"] == slug
    assert all(s["state"] in ("DONE", "SKIPPED") for s in app["steps"]), app["steps"]

    service = (await api.data(SERVICE, {"slug": slug}))["service"]
    department = service["department"]["code"]
    staff = [s for s in (await api.client.get("/dev-idp/staff")).json()["staff"] if s["department"] == department]
    assert staff, f"no dev staff for department {department}: nobody can decide {slug}"
    officer = await api.token({"staff": staff[0]["id"]})
    inbox: list[dict[str, Any]] = []
    for _ in range(100):  # the inbox index is written by an activity just after the submit update
        inbox = [e["node"] for e in (await api.data(INBOX, {"status": "SUBMITTED"}, officer)
                                     )["departmentInbox"]["edges"]]
        if any(n["id"] == app["id"] for n in inbox):
            break
        await asyncio.sleep(0.1)
    assert app["id"] in [n["id"] for n in inbox], f"{slug} never reached the {department} inbox"

    approvers = [s for s in staff if "approver" in s["roles"]]
    assert approvers, f"no dev approver for department {department}: nobody can decide {slug}"
    approver = await api.token({"staff": approvers[0]["id"]})
    decision = "APPROVED" if len(slug) % 2 else "REJECTED"
    decided = (await api.data(DECIDE, {"id": app["id"], "status": decision, "message": "Decided by acceptance"},
                              approver))["updateApplicationStatus"]
    assert decided["userErrors"] == []
    headers = await api.token({"citizen": citizen, "acr": STANDARD})
    seen = (await api.data(GET, {"id": app["id"]}, headers))["application"]
    assert seen["status"] == decision
    assert seen["timeline"][-1] == {"at": seen["timeline"][-1]["at"], "status": decision,
                                    "message": "Decided by acceptance"}


CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("slug", WITH_LOGIN)
async def test_every_step_is_rendered_in_traditional_chinese_for_a_zh_hk_citizen(system: System, slug: str) -> None:
    _, run, _ = await _complete(system, slug, "zh-HK")
    assert run.application["status"] == "SUBMITTED"
    english: list[tuple[str, str]] = []
    for step in run.seen:
        texts = [(step["id"], step["title"])]
        if step.get("description"):
            texts.append((step["id"], step["description"]))
        for f in step["fields"]:
            texts.append((f["id"], f["label"]))
            texts += [(f["id"], o["label"]) for o in f["options"] if not re.fullmatch(r"[\d\-]+", o["label"])]
            texts += [(sub["id"], sub["label"]) for sub in f["fields"]]
        english += [(where, text) for where, text in texts if not CJK.search(text)]
    assert english == [], f"{slug}: shown untranslated to a zh-HK citizen: {english}"


@pytest.mark.parametrize("slug", WITHOUT_LOGIN)
async def test_a_service_without_login_is_readable_by_anyone(system: System, slug: str) -> None:
    service = (await system.api.data(SERVICE, {"slug": slug}))["service"]
    assert service["slug"] == slug
    assert service["loginRequired"] is False
    assert service["steps"], service
    assert service["steps"][-1]["type"] == "SUBMIT"


@pytest.mark.parametrize("slug", WITHOUT_LOGIN)
async def test_starting_a_service_without_login_needs_no_token(system: System, slug: str) -> None:
    result = await system.api.post(START, {"slug": slug})
    assert "errors" not in result, result["errors"]
    payload = result["data"]["startApplication"]
    assert payload["userErrors"] == []
    assert payload["application"]["status"] == "DRAFT"


@pytest.mark.parametrize("slug", WITHOUT_LOGIN)
async def test_a_logged_in_citizen_completes_a_service_without_login(system: System, slug: str) -> None:
    _, run, _ = await _complete(system, slug)
    assert run.application["status"] == "SUBMITTED"
    assert run.application["referenceNumber"]


async def test_a_login_service_refuses_an_anonymous_start(system: System) -> None:
    result = await system.api.post(START, {"slug": WITH_LOGIN[0]})
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_generic_citizen_reports_refusals_it_cannot_fix(system: System) -> None:
    with pytest.raises(Refused, match="startApplication refused"):
        await drive(system.api, "no-such-service", "wong-ka-fai", datetime.now(UTC).date())
