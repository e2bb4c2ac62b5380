"""Appointed guardians, `actor.*` in rules, and the face step-up bound to the subject, through GraphQL. Real pieces:
the seed catalogue plus one test service (a face step-up applied for on someone's behalf), the Tsang family of
definitions/dev/citizens.yaml, dev IdP tokens, SQLite and PostgreSQL, a Temporal dev server and a worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD, Api, codes_of
from running import running_on
from sqlalchemy import select, text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from test_acting_for_others import MY_APPLICATIONS, SEEN, until_seen

from onestop.engine.container import Engine
from onestop.engine.db import SecurityEventRow
from onestop.engine.dev.idp import citizen_sub
from onestop.graphql.app import create_app

TEST_SERVICE = """\
id: act-for-someone-test
version: 1
department: IMMD
title: {en: Act for someone (test), tc: 代辦（測試）}
summary: {en: A test service applied for on someone's behalf and checked by face., tc: 測試服務。}
keywords: {en: [test], tc: [測試]}
themes: [family]
ageGroups: [children, adult, elderly]
assurance: standard
applicant: dependent
actingAs: [parent, guardian]
eligibility:
  when: actor.age >= 43 && (actor.relationship == "guardian" || (actor.relationship == "parent" && subject.age < 18))
  message:
    en: "Only a parent (43 or over) of a child, or a guardian (43 or over), can apply."
    tc: 只限43歲或以上的家長或監護人申請。
steps:
  - id: records
    type: prefill
    title: {en: Their details, tc: 其資料}
    purpose: {en: To fill in their name., tc: 用以填寫其姓名。}
    items: [immd-records.name-en]
  - id: about
    type: form
    title: {en: About them, tc: 關於其人}
    fields:
      - id: name
        type: text
        label: {en: Name, tc: 姓名}
        required: true
        prefill: immd-records.name-en
  - id: verify
    type: stepUp
    title: {en: Confirm it is you, tc: 確認你的身份}
    assurance: face
    maxAge: PT10M
  - id: send
    type: submit
    title: {en: Submit, tc: 遞交}
"""

PARTY = "{ relationship isYou name }"
APPLICATION = "application { id status currentStep { id type fields { id value } } subject " + PARTY + " }"
START = """mutation($slug: String!, $for: ID) {
  startApplication(input: {serviceSlug: $slug, onBehalfOf: $for}) { """ + APPLICATION + """
    userErrors { field message code } } }"""
GRANT = """mutation($id: ID!, $step: String!) { grantConsent(input: {applicationId: $id, stepId: $step}) {
  """ + APPLICATION + " userErrors { field message code } } }"
SUBMIT = """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) { """ + APPLICATION + """
    userErrors { field message code } } }"""
STEP_UP = """mutation($id: ID!, $step: String!) { completeStepUp(input: {applicationId: $id, stepId: $step}) {
  """ + APPLICATION + " userErrors { field message code } } }"
APPOINT = """mutation($input: AppointGuardianInput!) { appointGuardian(input: $input) {
  guardianship { id status guardianName wardName orderReference department signature }
  userErrors { field message code } } }"""
END = """mutation($id: ID!) { endGuardianship(input: {guardianshipId: $id}) {
  guardianship { id status endedAt } userErrors { field message code } } }"""
END_ON = """mutation($id: ID!, $until: DateTime) { endGuardianship(input: {guardianshipId: $id, validUntil: $until}) {
  guardianship { id status endedAt validUntil signature } userErrors { field message code } } }"""
LISTED = "{ guardianships { id status wardName } }"
DEPENDENTS = "query { viewer { dependents { id name relationship } } }"
WARD_LOG = """query($who: ID!) { viewer { dependentAccessLog(dependentId: $who, first: 100) {
  edges { node { provider applicationId actor """ + PARTY + " subject " + PARTY + " } } } } }"

WARD, WARD_HKID = "lam-yuk-lan", "C611872(9)"
GUARDIAN, GUARDIAN_HKID = "wong-ka-fai", "K305518(3)"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def running(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment, definitions_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Engine, Client]]:
    tree = tmp_path_factory.mktemp("guardians") / "definitions"
    shutil.copytree(definitions_dir, tree)
    (tree / "services" / "test").mkdir()
    (tree / "services" / "test" / "act-for-someone.yaml").write_text(TEST_SERVICE, encoding="utf-8")
    async with running_on(request.param, temporal_env, tree, tmp_path_factory.mktemp("guardians-data")) as pair:
        yield pair


@pytest.fixture(scope="module")
async def api(running: tuple[Engine, Client]) -> AsyncIterator[Api]:
    engine, _ = running
    app = create_app(engine.settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop.test",
                                 timeout=60) as client:
        yield Api(client)


async def citizen(api: Api, who: str) -> dict[str, str]:
    return await api.token({"citizen": who, "acr": STANDARD})


async def ref_of(engine: Engine, who: str) -> str:
    return (await engine.data.citizens.ensure(citizen_sub(engine.settings, who))).ref


def appointment(**changes: Any) -> dict[str, Any]:
    return {"guardianHkid": GUARDIAN_HKID, "guardianName": "WONG, Ka Fai", "wardHkid": WARD_HKID,
            "wardName": "LAM, Yuk Lan", "orderReference": "GB/2026/0042"} | changes


async def action(api: Api, query: str, name: str, variables: dict[str, Any], headers: dict[str, str]
                 ) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(query, variables, headers))[name]
    return payload


@pytest.mark.parametrize("staff", ["swd-officer", "edb-supervisor"])
async def test_only_swd_staff_with_the_approver_role_appoint_guardians(api: Api, staff: str) -> None:
    result = await api.post(APPOINT, {"input": appointment()}, await api.token({"staff": staff}))
    assert codes_of(result) == ["FORBIDDEN"]
    assert codes_of(await api.post(LISTED, {}, await api.token({"staff": staff}))) == ["FORBIDDEN"]
    assert codes_of(await api.post(APPOINT, {"input": appointment()}, await citizen(api, GUARDIAN))) == [
        "FORBIDDEN"]
    assert codes_of(await api.post(APPOINT, {"input": appointment()}, {})) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(("changes", "field", "code"), [
    ({"wardHkid": "A123456(3)"}, ["input", "wardHkid"], "INVALID_HKID"),  # no such citizen on the platform
    ({"wardHkid": GUARDIAN_HKID}, ["input", "guardianHkid"], "INVALID_HKID"),  # their own guardian
    ({"orderReference": "  "}, ["input", "orderReference"], "REQUIRED"),
    ({"validUntil": "2020-01-01T00:00:00Z"}, ["input", "validUntil"], "DATE_TOO_EARLY"),
])
async def test_a_bad_appointment_is_refused_with_a_clear_error(api: Api, changes: dict[str, Any],
                                                              field: list[str], code: str) -> None:
    payload = await action(api, APPOINT, "appointGuardian", {"input": appointment(**changes)},
                           await api.token({"staff": "swd-supervisor"}))
    assert payload["guardianship"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]


@pytest.mark.slow
async def test_an_appointed_guardian_acts_for_the_ward_until_swd_ends_it(
        api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    supervisor = await api.token({"staff": "swd-supervisor"})
    guardian = await citizen(api, GUARDIAN)
    ward = await ref_of(engine, WARD)
    # Before any appointment, the guardian-to-be acts for no one.
    refused = await action(api, START, "startApplication", {"slug": "senior-citizen-card", "for": ward}, guardian)
    assert [e["code"] for e in refused["userErrors"]] == ["CANNOT_ACT_FOR"]

    appointed = await action(api, APPOINT, "appointGuardian", {"input": appointment()}, supervisor)
    assert appointed["userErrors"] == []
    record = appointed["guardianship"]
    assert (record["status"], record["department"], record["wardName"]) == ("ACTIVE", "SWD", "LAM, Yuk Lan")
    assert record["signature"].count(".") == 2
    assert "LAM" not in record["signature"]
    assert record["id"] in [g["id"] for g in (await api.data(LISTED, {}, supervisor))["guardianships"]]
    # The staff action is audited: a security event in the hash-chained log, by the staff member.
    await engine.security.events.flush()
    async with engine.database.session() as session:
        kinds = (await session.scalars(select(SecurityEventRow.kind).where(
            SecurityEventRow.kind.in_(("guardian.appointed", "guardian.ended"))))).all()
    assert list(kinds) == ["guardian.appointed"]

    listed = (await api.data(DEPENDENTS, {}, guardian))["viewer"]["dependents"]
    assert {"id": ward, "name": "LAM, Yuk Lan", "relationship": "GUARDIAN"} in listed
    started = await action(api, START, "startApplication", {"slug": "senior-citizen-card", "for": ward}, guardian)
    assert started["userErrors"] == []
    assert started["application"]["subject"] == {"relationship": "GUARDIAN", "isYou": False, "name": "LAM, Yuk Lan"}
    app_id = started["application"]["id"]
    consented = await action(api, GRANT, "grantConsent", {"id": app_id, "step": "records"}, guardian)
    assert consented["userErrors"] == []
    assert "LAM, Yuk Lan" in [f["value"] for f in consented["application"]["currentStep"]["fields"]]
    # The guardian reads the ward's access log, and sees the reads made for this application as theirs.
    log = (await api.data(WARD_LOG, {"who": ward}, guardian))["viewer"]["dependentAccessLog"]
    mine = [e["node"] for e in log["edges"] if e["node"]["actor"]["isYou"]]
    assert mine
    assert all(n["actor"]["relationship"] == "GUARDIAN" and n["subject"]["name"] == "LAM, Yuk Lan" for n in mine)

    # A guardian may apply where the service allows guardians only; the test service allows them.
    ended = await action(api, END, "endGuardianship", {"id": record["id"]}, supervisor)
    assert ended["userErrors"] == []
    assert ended["guardianship"]["status"] == "ENDED"
    again = await action(api, GRANT, "grantConsent", {"id": app_id, "step": "records"}, guardian)
    assert [e["code"] for e in again["userErrors"]] == ["CANNOT_ACT_FOR"]
    assert (await api.data(WARD_LOG, {"who": ward}, guardian))["viewer"]["dependentAccessLog"] is None
    await engine.security.events.flush()
    async with engine.database.session() as session:
        kinds = (await session.scalars(select(SecurityEventRow.kind).where(
            SecurityEventRow.kind.in_(("guardian.appointed", "guardian.ended"))))).all()
    assert sorted(kinds) == ["guardian.appointed", "guardian.ended"]
    unknown = await action(api, END, "endGuardianship", {"id": "0" * 8}, supervisor)
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [(["input", "guardianshipId"], "NOT_FOUND")]


async def test_guardianship_rows_hold_no_personal_data_in_clear(api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    payload = await action(api, APPOINT, "appointGuardian", {"input": appointment(orderReference="GB/2026/0777")},
                           await api.token({"staff": "swd-supervisor"}))
    assert payload["userErrors"] == []
    async with engine.database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM guardianships"))).all()
    dumped = " ".join(str(row) for row in rows)
    for clear in ("LAM", "WONG", "GB/2026/0777", "C611872", "K305518"):
        assert clear not in dumped


async def face_for(api: Api, who: str, application_id: str, step: str, headers: dict[str, str]) -> dict[str, Any]:
    """The RFC 9470 challenge of a step-up, as a client meets it: its ``binding`` names what to sign in for."""
    result = await api.post(STEP_UP, {"id": application_id, "step": step}, headers)
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "INSUFFICIENT_USER_AUTHENTICATION"
    extensions: dict[str, Any] = error["extensions"]
    return extensions


@pytest.mark.slow
async def test_the_face_step_up_is_the_actors_bound_to_the_subject_and_not_replayable_for_another(
        api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    parent = await citizen(api, "tsang-chi-keung")
    at_step: dict[str, str] = {}
    for child in ("tsang-ho-yin", "tsang-hoi-ching"):
        started = await action(api, START, "startApplication", {"slug": "act-for-someone-test",
                                                                "for": await ref_of(engine, child)}, parent)
        assert started["userErrors"] == [], started
        app_id = started["application"]["id"]
        await action(api, GRANT, "grantConsent", {"id": app_id, "step": "records"}, parent)
        name = "TSANG, Ho Yin" if child == "tsang-ho-yin" else "TSANG, Hoi Ching"
        moved = await action(api, SUBMIT, "submitStep", {"id": app_id, "step": "about", "answers": {"name": name}},
                             parent)
        assert moved["application"]["currentStep"]["id"] == "verify", moved
        at_step[child] = app_id
    son, daughter = at_step["tsang-ho-yin"], at_step["tsang-hoi-ching"]
    son_binding = (await face_for(api, "tsang-chi-keung", son, "verify", parent))["binding"]
    daughter_binding = (await face_for(api, "tsang-chi-keung", daughter, "verify", parent))["binding"]
    assert son_binding != daughter_binding
    assert await ref_of(engine, "tsang-ho-yin") not in son_binding  # the subject is named by a digest only
    # A face check bound to the son's application is refused for the daughter's, and vice versa.
    for_son = await api.face_token("tsang-chi-keung", son_binding)
    replayed = await api.post(STEP_UP, {"id": daughter, "step": "verify"}, for_son)
    assert codes_of(replayed) == ["INSUFFICIENT_USER_AUTHENTICATION"]
    assert replayed["errors"][0]["extensions"]["binding"] == daughter_binding
    # A face check bound to the step alone (as for one's own application) does not name the subject: refused.
    plain = await api.face_token("tsang-chi-keung", son_binding.rsplit(":", 1)[0])
    assert codes_of(await api.post(STEP_UP, {"id": son, "step": "verify"}, plain)) == [
        "INSUFFICIENT_USER_AUTHENTICATION"]
    # The child's own face is not the actor's: the application is the parent's to act on.
    childs = await api.post(STEP_UP, {"id": son, "step": "verify"}, await api.face_token("tsang-ho-yin", son_binding))
    assert childs.get("errors") or childs["data"]["completeStepUp"]["application"] is None
    done = await action(api, STEP_UP, "completeStepUp", {"id": son, "step": "verify"}, for_son)
    assert done["userErrors"] == []
    assert done["application"]["currentStep"]["id"] == "send"


@pytest.mark.parametrize(("parent", "status"), [("tsang-chi-keung", "DRAFT"), ("yip-suk-fan", "NOT_ELIGIBLE")])
async def test_a_rule_reads_the_actor_beside_the_subject(api: Api, running: tuple[Engine, Client], parent: str,
                                                        status: str) -> None:
    engine, _ = running
    # The test service admits a parent of 43 or over (actor.age, from the parent's own record) for a child under
    # 18 (subject.age, the child's): the father is 44, the mother 42; their daughter is 17.
    started = await action(api, START, "startApplication", {
        "slug": "act-for-someone-test", "for": await ref_of(engine, "tsang-hoi-ching")}, await citizen(api, parent))
    assert started["userErrors"] == []
    assert started["application"]["status"] == status


HANDED_TO_WARD = "The guardianship it was started under has ended: it is now the ward's to continue"


async def guardians_draft(api: Api, engine: Engine) -> tuple[dict[str, str], dict[str, str], str, str]:
    """A new guardianship of the ward with no end date (no other in force: earlier tests leave some), and a draft
    the guardian started for the ward under it: the supervisor's and guardian's headers, and both ids."""
    supervisor, guardian = await api.token({"staff": "swd-supervisor"}), await citizen(api, GUARDIAN)
    for listed in (await api.data(LISTED, {}, supervisor))["guardianships"]:
        if listed["status"] == "ACTIVE" and listed["wardName"] == "LAM, Yuk Lan":
            assert (await action(api, END, "endGuardianship", {"id": listed["id"]}, supervisor))["userErrors"] == []
    appointed = await action(api, APPOINT, "appointGuardian", {"input": appointment()}, supervisor)
    assert appointed["userErrors"] == []
    ward = await ref_of(engine, WARD)
    started = await action(api, START, "startApplication", {"slug": "senior-citizen-card", "for": ward}, guardian)
    assert started["userErrors"] == []
    return supervisor, guardian, appointed["guardianship"]["id"], started["application"]["id"]


async def handed_to_ward(api: Api, app_id: str, guardian: dict[str, str]) -> dict[str, Any]:
    """The application once the ward has it (as they see it); the guardian is refused with a clear code."""
    seen = await until_seen(api, app_id, await citizen(api, WARD))
    assert seen["subject"]["isYou"] is True
    assert seen["timeline"][-1]["message"] == HANDED_TO_WARD
    refused = await action(api, GRANT, "grantConsent", {"id": app_id, "step": "records"}, guardian)
    assert [e["code"] for e in refused["userErrors"]] == ["CANNOT_ACT_FOR"]
    assert "guardianship ended" in refused["userErrors"][0]["message"]
    assert (await api.data(SEEN, {"id": app_id}, guardian))["application"] is None
    return seen


@pytest.mark.slow
async def test_ending_a_guardianship_hands_the_guardians_applications_to_the_ward_at_once(
        api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    supervisor, guardian, guardianship, app_id = await guardians_draft(api, engine)  # no end date: no timer
    assert (await action(api, END, "endGuardianship", {"id": guardianship}, supervisor))["userErrors"] == []
    seen = await handed_to_ward(api, app_id, guardian)
    assert seen["status"] == "DRAFT"
    mine = (await api.data(MY_APPLICATIONS, {}, await citizen(api, WARD)))["viewer"]["applications"]["edges"]
    assert app_id in [e["node"]["id"] for e in mine]


@pytest.mark.slow
async def test_an_end_date_set_later_ends_the_guardians_running_application_by_its_timer(
        api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    supervisor, guardian, guardianship, app_id = await guardians_draft(api, engine)  # begun with no end date
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = await action(api, END_ON, "endGuardianship", {"id": guardianship, "until": past}, supervisor)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "validUntil"], "DATE_TOO_EARLY")]
    assert codes_of(await api.post(END_ON, {"id": guardianship, "until": past}, guardian)) == ["FORBIDDEN"]

    ends = datetime.now(UTC) + timedelta(seconds=4)
    dated = await action(api, END_ON, "endGuardianship", {"id": guardianship, "until": ends.isoformat()}, supervisor)
    assert dated["userErrors"] == []
    assert (dated["guardianship"]["status"], dated["guardianship"]["endedAt"]) == ("ACTIVE", None)
    assert datetime.fromisoformat(dated["guardianship"]["validUntil"]) == ends
    # The signed artefact carries the new end.
    signed = engine.data.signer.verify(dated["guardianship"]["signature"], typ="onestop-guardianship+jws").payload
    assert datetime.fromisoformat(signed["validUntil"]) == ends
    ward = await citizen(api, WARD)
    assert (await api.data(SEEN, {"id": app_id}, ward))["application"] is None  # still the guardian's until then

    await handed_to_ward(api, app_id, guardian)  # by the application's own durable timer: nobody acted
    assert datetime.now(UTC) >= ends
    # The end date passed: the guardianship has expired, and a new end date no longer changes it.
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    again = await action(api, END_ON, "endGuardianship", {"id": guardianship, "until": later}, supervisor)
    assert again["guardianship"]["status"] == "EXPIRED"
    await engine.security.events.flush()
    async with engine.database.session() as session:
        outcomes = (await session.scalars(select(SecurityEventRow.outcome).where(
            SecurityEventRow.kind == "guardian.ended"))).all()
    assert "end date set" in outcomes


@pytest.mark.slow
async def test_onestop_acting_terms_gives_an_application_started_before_terms_its_end(
        api: Api, running: tuple[Engine, Client], temporal_env: WorkflowEnvironment) -> None:
    engine, _ = running
    _, guardian, guardianship, app_id = await guardians_draft(api, engine)  # no end date: no timer
    # An end date recorded the way code before terms did: in the row alone, with nothing told to the application.
    ends = datetime.now(UTC) + timedelta(seconds=2)
    async with engine.database.session() as session:
        await session.execute(text("UPDATE guardianships SET valid_until = :at WHERE id = :id"),
                              {"at": ends, "id": guardianship})
    ward = await citizen(api, WARD)
    await asyncio.sleep(max((ends - datetime.now(UTC)).total_seconds(), 0) + 2)
    assert (await api.data(SEEN, {"id": app_id}, ward))["application"] is None  # no timer: still the guardian's

    settings = engine.settings
    done = await asyncio.to_thread(subprocess.run, [
        str(Path(sys.executable).parent / "onestop"), "acting-terms", "--env", "development",
        "--data-dir", str(settings.data_dir), "--database-url", settings.resolved_database_url,
        "--definitions", str(settings.definitions),
        "--temporal-address", temporal_env.client.service_client.config.target_host,
    ], env=os.environ, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "told" in done.stdout
    await handed_to_ward(api, app_id, guardian)
