"""Issue 3 and 4 access control, from the outside: citizens and staff each reach only what is theirs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from client import STANDARD

from .answers import drive
from .conftest import DECIDE, GET, INBOX, NODE, START, STEP_UP, System

pytestmark = pytest.mark.slow

SLUG = "renew-vehicle-licence"  # a TD service


@pytest.fixture(scope="module")
async def submitted(system: System) -> str:
    run = await drive(system.api, SLUG, "wong-ka-fai", datetime.now(UTC).date())
    assert run.application["status"] == "SUBMITTED"
    application_id: str = run.application["id"]
    return application_id


def _code(result: dict[str, object]) -> str:
    errors = result.get("errors")
    assert isinstance(errors, list), result
    code: str = errors[0]["extensions"]["code"]
    return code


async def test_a_staff_token_cannot_act_for_a_citizen(system: System) -> None:
    officer = await system.api.token({"staff": "td-officer"})
    assert _code(await system.api.post(START, {"slug": SLUG}, officer)) == "FORBIDDEN"
    assert _code(await system.api.post("{ viewer { profile { hkid } } }", {}, officer)) == "FORBIDDEN"


async def test_a_citizen_token_cannot_use_the_department_side(system: System, submitted: str) -> None:
    citizen = await system.api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    assert _code(await system.api.post(INBOX, {}, citizen)) == "FORBIDDEN"
    assert _code(await system.api.post(DECIDE, {"id": submitted, "status": "APPROVED"}, citizen)) == "FORBIDDEN"


async def test_staff_of_another_department_see_nothing(system: System, submitted: str) -> None:
    other = await system.api.token({"staff": "immd-officer"})
    assert (await system.api.post(GET, {"id": submitted}, other)) == {"data": {"application": None}}
    assert (await system.api.post(NODE, {"id": submitted}, other)) == {"data": {"node": None}}
    moved = (await system.api.data(DECIDE, {"id": submitted, "status": "APPROVED"}, other))["updateApplicationStatus"]
    assert moved["userErrors"][0]["code"] == "NOT_FOUND"


async def test_the_department_reads_submissions_but_not_drafts(system: System, submitted: str) -> None:
    api = system.api
    officer = await api.token({"staff": "td-officer"})
    seen = (await api.data(GET, {"id": submitted}, officer))["application"]
    assert seen["status"] == "SUBMITTED"
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    draft = (await api.data(START, {"slug": SLUG, "cmid": uuid.uuid4().hex}, citizen))["startApplication"]
    assert (await api.post(GET, {"id": draft["application"]["id"]}, officer)) == {"data": {"application": None}}


async def test_a_decided_application_cannot_change_or_be_withdrawn(system: System, submitted: str) -> None:
    api = system.api
    officer = await api.token({"staff": "td-supervisor"})
    assert (await api.data(DECIDE, {"id": submitted, "status": "APPROVED"}, officer)
            )["updateApplicationStatus"]["application"]["status"] == "APPROVED"
    again = (await api.data(DECIDE, {"id": submitted, "status": "REJECTED"}, officer))["updateApplicationStatus"]
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    withdraw = """mutation($id: ID!) { withdrawApplication(input: {applicationId: $id}) {
      application { status } userErrors { code } } }"""
    refused = (await api.data(withdraw, {"id": submitted}, citizen))["withdrawApplication"]
    assert refused["userErrors"][0]["code"] == "NOT_WITHDRAWABLE"
    assert (await api.data(GET, {"id": submitted}, citizen))["application"]["status"] == "APPROVED"


async def test_a_face_check_bound_to_one_application_cannot_be_replayed_for_another(system: System) -> None:
    api = system.api
    today = datetime.now(UTC).date()
    first, second = [(await drive(api, "renew-driving-licence", "wong-ka-fai", today, stop_at="STEP_UP")).application
                     for _ in range(2)]
    assert first["currentStep"]["id"] == second["currentStep"]["id"] == "verify-face"
    challenge = await api.post(STEP_UP, {"id": first["id"], "step": "verify-face"},
                               await api.face_token("wong-ka-fai", None))
    binding = challenge["errors"][0]["extensions"]["binding"]
    bound_to_first = await api.face_token("wong-ka-fai", binding)

    replayed = await api.post(STEP_UP, {"id": second["id"], "step": "verify-face"}, bound_to_first)
    assert replayed["errors"][0]["extensions"]["code"] == "INSUFFICIENT_USER_AUTHENTICATION"
    assert replayed["errors"][0]["extensions"]["binding"] != binding
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    assert (await api.data(GET, {"id": second["id"]}, citizen))["application"]["currentStep"]["id"] == "verify-face"

    passed = (await api.data(STEP_UP, {"id": first["id"], "step": "verify-face"}, bound_to_first))["completeStepUp"]
    assert passed["userErrors"] == []
    assert passed["application"]["currentStep"]["id"] == "check"
