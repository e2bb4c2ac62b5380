"""Answers the department can trust: the service's assurance level is enforced on every action, eligibility
reads the authoritative record (never the self-declared profile), and prefilled values keep their provenance.

Real pieces: the seed catalogue and test citizens, dev IdP tokens, SQLite, a Temporal dev server and a worker.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from client import STANDARD, Api
from running import running_seed

from onestop.engine.applications.delivery import inbox as inbox_items
from onestop.engine.container import Engine
from onestop.engine.db import InboxRow
from onestop.engine.dev.idp import citizen_sub
from onestop.graphql.relay import from_global_id

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
READS = "{ viewer { dataAccessLog(first: 100) { edges { node { provider items { provider item } } } } } }"
ACCESS = "{ viewer { dataAccessLog(first: 100) { totalCount } applications(first: 100) { totalCount } } }"


running, engine, api = running_seed("trust-data")


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


PROFILE = "{ viewer { profile { dateOfBirth hkid phone verified { item source verifiedAt } } } }"
UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { profile { dateOfBirth phone } userErrors { field code message } } }"""


@pytest.mark.slow
async def test_update_profile_cannot_change_a_verified_item(api: Api) -> None:
    citizen = await api.token({"citizen": "ng-wing-sze", "acr": STANDARD})
    profile = (await api.data(PROFILE, headers=citizen))["viewer"]["profile"]
    sources = {v["item"]: v["source"] for v in profile["verified"]}
    assert sources == {"nameEn": "IMMD", "nameZh": "IMMD", "dateOfBirth": "IMMD", "hkid": "IMMD"}
    assert all(v["verifiedAt"] for v in profile["verified"])

    refused = (await api.data(UPDATE, {"input": {"dateOfBirth": "1950-01-01", "phone": "12"}},
                              citizen))["updateProfile"]
    assert refused["profile"] is None
    assert {(tuple(e["field"]), e["code"]) for e in refused["userErrors"]} == {
        (("input", "dateOfBirth"), "VERIFIED_ITEM"), (("input", "phone"), "INVALID_VALUE")}
    assert "immd-records" in next(e["message"] for e in refused["userErrors"] if e["code"] == "VERIFIED_ITEM")
    saved = (await api.data(UPDATE, {"input": {"phone": "91234567"}}, citizen))["updateProfile"]
    assert saved["userErrors"] == []
    assert saved["profile"]["dateOfBirth"] == "1999-02-11"


@pytest.mark.slow
async def test_a_self_declared_date_of_birth_cannot_make_anyone_eligible(api: Api, engine: Engine) -> None:
    # A stored e-ME copy that disagrees with ImmD (as a profile edited before items were verified would).
    citizen = await engine.data.citizens.get(citizen_sub(engine.settings, "ng-wing-sze"))
    assert citizen is not None
    async with engine.database.session() as session:
        await engine.data.profiles.store(session, citizen.id, {"dateOfBirth": "1950-01-01"},
                                         updated_at=datetime.now(UTC))
    young = await api.token({"citizen": "ng-wing-sze", "acr": STANDARD})
    assert (await api.data(PROFILE, headers=young))["viewer"]["profile"]["dateOfBirth"] == "1999-02-11"
    app = (await api.data(START, {"slug": "old-age-living-allowance"}, young))["startApplication"]["application"]
    assert app["status"] == "NOT_ELIGIBLE"

    elderly = await api.token({"citizen": "lam-yuk-lan", "acr": STANDARD})
    app = (await api.data(START, {"slug": "old-age-living-allowance"}, elderly))["startApplication"]["application"]
    assert app["status"] == "DRAFT"
    reads = (await api.data(READS, headers=elderly))["viewer"]["dataAccessLog"]["edges"]
    assert [(r["node"]["provider"], r["node"]["items"]) for r in reads] == [
        ("immd-records", [{"provider": "immd-records", "item": "date-of-birth"}])]


STAFF_VIEW = """query($id: ID!) { application(id: $id) { status
  provenance { field source verified prefilled changed original } } }"""
INBOX = "{ departmentInbox(first: 100) { edges { node { id provenance { field changed original } } } } }"
READ_ONLY = APPLICATION.replace("prefilled source", "prefilled source readOnly")


@pytest.mark.slow
async def test_the_department_sees_a_changed_prefilled_value_and_its_original(api: Api, engine: Engine) -> None:
    citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    app = (await api.data(START, {"slug": "public-rental-housing"}, citizen))["startApplication"]["application"]
    app_id = app["id"]
    app = (await api.data(GRANT.replace(APPLICATION, READ_ONLY), {"id": app_id, "step": "records"}, citizen)
           )["grantConsent"]["application"]
    fields = {f["id"]: f for f in app["currentStep"]["fields"]}
    assert (fields["applicantHkid"]["source"], fields["applicantHkid"]["readOnly"]) == ("IMMD", True)
    assert fields["currentAddress"]["readOnly"] is False
    original_address = fields["currentAddress"]["value"]
    moved = {"building": "Harbour Court", "street": "1 Harbour Road", "district": "wan-chai", "region": "HK"}
    answers = {"applicantName": fields["applicantName"]["value"], "applicantHkid": fields["applicantHkid"]["value"],
               "currentAddress": moved, "ownsProperty": "no"}

    refused = (await api.data(SUBMIT, {"id": app_id, "step": "applicant",
                                       "answers": answers | {"applicantHkid": "A123456(3)"}}, citizen))["submitStep"]
    assert refused["application"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "answers", "applicantHkid"], "PREFILL_READ_ONLY")]

    steps = [("applicant", answers),
             ("household", {"householdMembers": [], "monthlyIncome": 12000, "totalAssets": 50000,
                            "districtPreference": "urban"})]
    for step, given in steps:
        done = (await api.data(SUBMIT, {"id": app_id, "step": step, "answers": given}, citizen))["submitStep"]
        assert done["userErrors"] == [], done
    assert (await api.data(GRANT, {"id": app_id, "step": "verification"}, citizen))["grantConsent"]["userErrors"] == []
    for step, given in [("check", {"declaration": True}), ("send", {})]:
        done = (await api.data(SUBMIT, {"id": app_id, "step": step, "answers": given}, citizen))["submitStep"]
        assert done["userErrors"] == [], done
    assert done["application"]["status"] == "SUBMITTED"

    officer = await api.token({"staff": "hd-officer"})
    seen = (await api.data(STAFF_VIEW, {"id": app_id}, officer))["application"]
    by_field = {p["field"]: p for p in seen["provenance"]}
    assert by_field["applicantHkid"] == {"field": "applicantHkid", "source": "IMMD", "verified": True,
                                         "prefilled": True, "changed": False, "original": None}
    assert by_field["currentAddress"] | {"original": None} == {
        "field": "currentAddress", "source": "DPO", "verified": False, "prefilled": True, "changed": True,
        "original": None}
    assert by_field["currentAddress"]["original"] == original_address
    assert by_field["monthlyIncome"]["source"] == "citizen"

    parsed = from_global_id(app_id)
    assert parsed is not None
    for _ in range(50):  # the index and the inbox are written by activities just after the submit returns
        edges = (await api.data(INBOX, headers=officer))["departmentInbox"]["edges"]
        inbox = {e["node"]["id"]: e["node"] for e in edges}
        async with engine.database.session() as session:
            row = await session.get(InboxRow, parsed[1])
        if app_id in inbox and row is not None:
            break
        await asyncio.sleep(0.1)
    changed = {p["field"]: p["original"] for p in inbox[app_id]["provenance"] if p["changed"]}
    assert changed == {"currentAddress": original_address}
    assert row is not None
    delivered = next(item for item in await inbox_items(engine.database, engine.data.cipher, row.department)
                     if item.application_id == parsed[1])
    signed = engine.data.signer.verify_submission(delivered.jws)  # stored encrypted; read as delivered
    signed_address = next(p for p in signed["provenance"] if p["field"] == "currentAddress")
    assert (signed_address["changed"], signed_address["original"]) == (True, original_address)
