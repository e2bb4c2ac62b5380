"""Acting for others through GraphQL: a parent for a child under 18 (ImmD's birth registration), a carer under a
mandate. Real pieces: the seed catalogue and the Tsang family of definitions/dev/citizens.yaml, dev IdP tokens
(face-level for granting), SQLite, a Temporal dev server and a worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from client import STANDARD, Api, codes_of
from running import running_on
from sqlalchemy import select, text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.engine.applications import delivery
from onestop.engine.container import Engine
from onestop.engine.db import ApplicationPartyRow
from onestop.engine.dev.idp import citizen_sub
from onestop.graphql.app import create_app
from onestop.graphql.relay import from_global_id

DEPENDENTS = """query { viewer { dependents { id name relationship dateOfBirth age mandateId }
  mandatesGranted { id grantorName granteeName status services themes items signature }
  mandatesReceived { id grantorName granteeName status services themes } } }"""
START = """mutation($slug: String!, $for: ID) {
  startApplication(input: {serviceSlug: $slug, onBehalfOf: $for}) {
    application { id status serviceSlug currentStep { id }
                  actor { relationship isYou name } subject { relationship isYou name } }
    userErrors { field message code } } }"""
GRANT = """mutation($input: GrantMandateInput!) { grantMandate(input: $input) {
  mandate { id status grantorName granteeName themes services items validUntil }
  userErrors { field message code } } }"""
REVOKE = """mutation($id: ID!) { revokeMandate(input: {mandateId: $id}) {
  mandate { id status revokedAt } userErrors { field message code } } }"""
ACTION = """mutation($id: ID!, $step: String!) { grantConsent(input: {applicationId: $id, stepId: $step}) {
  application { id } userErrors { field message code } } }"""
CONSENT = """mutation($id: ID!, $step: String!) { grantConsent(input: {applicationId: $id, stepId: $step}) {
  application { id currentStep { id fields { id value } } } userErrors { field message code } } }"""
READS = """query { viewer { dataAccessLog(first: 100) { edges { node { provider
  items { provider item } } } } } }"""
PARTY = "{ relationship isYou name }"
CONSENT_SCREEN = """query($id: ID!) { application(id: $id) { currentStep { id type actingBasis
  dataSubject """ + PARTY + " } } }"
SUBMIT = """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { id status currentStep { id fields { id value } } } userErrors { field message code } } }"""
DEPENDENT_LOG = """query($who: ID!) { viewer { dependentAccessLog(dependentId: $who, first: 100) { totalCount
  edges { node { provider applicationId items { provider item } actor """ + PARTY + " subject " + PARTY + """ } } }
  } }"""
OWN_LOG = """query { viewer { dataAccessLog(first: 100) { edges { node { provider applicationId
  actor """ + PARTY + " subject " + PARTY + """ } } } consents { applicationId items { provider item }
  actor """ + PARTY + " subject " + PARTY + " } } }"
STAFF_VIEW = "query($id: ID!) { application(id: $id) { status actor " + PARTY + " subject " + PARTY + " } }"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def running(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment, definitions_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Engine, Client]]:
    async with running_on(request.param, temporal_env, definitions_dir,
                          tmp_path_factory.mktemp("acting-data")) as pair:
        yield pair


@pytest.fixture(scope="module")
async def api(running: tuple[Engine, Client]) -> AsyncIterator[Api]:
    engine, _ = running
    bound = Api.in_process(create_app(engine.settings, engine), engine)
    yield bound
    await bound.client.aclose()


async def login(api: Api, citizen: str) -> dict[str, str]:
    return await api.token({"citizen": citizen, "acr": STANDARD})


async def ref_of(engine: Engine, citizen: str) -> str:
    return (await engine.data.citizens.ensure(citizen_sub(engine.settings, citizen))).ref


async def dependents(api: Api, citizen: str) -> dict[str, Any]:
    viewer: dict[str, Any] = (await api.data(DEPENDENTS, {}, await login(api, citizen)))["viewer"]
    return viewer


async def start(api: Api, headers: dict[str, str], slug: str, on_behalf_of: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(START, {"slug": slug, "for": on_behalf_of}, headers))["startApplication"]
    return payload


def mandate_input(**changes: Any) -> dict[str, Any]:
    return {"granteeHkid": "P562019(1)", "granteeName": "YIP, Suk Fan", "themes": ["health"],
            "items": ["dh-records.health-care-voucher"], "validUntil": "2030-01-01T00:00:00Z"} | changes


async def test_a_parent_sees_each_child_under_18_from_the_birth_registration(api: Api) -> None:
    viewer = await dependents(api, "tsang-chi-keung")
    children = [(d["name"], d["relationship"], d["dateOfBirth"]) for d in viewer["dependents"]
                if d["relationship"] == "PARENT"]
    assert children == [("TSANG, Hoi Ching", "PARENT", "2008-12-20"), ("TSANG, Ho Yin", "PARENT", "2021-03-08")]
    # The grandfather's mandate makes him a dependent too; the other parent sees the same children.
    assert [(d["name"], d["relationship"]) for d in viewer["dependents"] if d["relationship"] == "MANDATE"] == [
        ("TSANG, Kam Po", "MANDATE")]
    assert [d["name"] for d in (await dependents(api, "yip-suk-fan"))["dependents"]] == [
        "TSANG, Hoi Ching", "TSANG, Ho Yin"]


async def test_an_adult_child_is_no_dependent_and_a_mandate_is_visible_to_both(api: Api) -> None:
    grandfather = await dependents(api, "tsang-kam-po")
    assert grandfather["dependents"] == []  # his son is 44: the birth registration gives no rights any more
    (granted,) = grandfather["mandatesGranted"]
    (received,) = (await dependents(api, "tsang-chi-keung"))["mandatesReceived"]
    assert granted["id"] == received["id"]
    assert (received["grantorName"], received["granteeName"], received["status"]) == (
        "TSANG, Kam Po", "TSANG, Chi Keung", "ACTIVE")
    assert granted["signature"].count(".") == 2
    assert "TSANG" not in granted["signature"]


@pytest.mark.slow
async def test_a_parent_applies_for_primary_one_for_a_five_year_old(api: Api, running: tuple[Engine, Client]
                                                                     ) -> None:
    engine, _ = running
    parent = await login(api, "tsang-chi-keung")
    child = next(d for d in (await dependents(api, "tsang-chi-keung"))["dependents"] if d["age"] == 5)
    payload = await start(api, parent, "primary-one-admission", child["id"])
    assert payload["userErrors"] == []
    application = payload["application"]
    assert application["status"] == "DRAFT"
    assert application["actor"] == {"relationship": "PARENT", "isYou": True, "name": None}
    assert application["subject"] == {"relationship": "PARENT", "isYou": False, "name": "TSANG, Ho Yin"}
    # The age rule read the child's record, not the parent's: the child's own log shows it.
    reads = (await api.data(READS, {}, await login(api, "tsang-ho-yin")))["viewer"]["dataAccessLog"]["edges"]
    assert {"provider": "immd-records", "item": "date-of-birth"} in [
        item for edge in reads for item in edge["node"]["items"]]
    # Actor and subject are kept by pseudonymous reference only.
    parsed = from_global_id(application["id"])
    assert parsed is not None
    async with engine.database.session() as session:
        row = await session.scalar(select(ApplicationPartyRow).where(ApplicationPartyRow.application_id == parsed[1]))
    assert row is not None
    assert (row.actor_ref, row.subject_ref, row.acting_as) == (
        await ref_of(engine, "tsang-chi-keung"), await ref_of(engine, "tsang-ho-yin"), "parent")
    # Applied for oneself, both parties are the caller.
    own = await start(api, await login(api, "tsang-kam-po"), "senior-citizen-card", None)
    assert own["application"]["actor"] == own["application"]["subject"] == {
        "relationship": "SELF", "isYou": True, "name": None}


@pytest.mark.parametrize(("caller", "slug", "subject"), [
    ("tsang-kam-po", "primary-one-admission", "tsang-chi-keung"),  # his child, but an adult
    ("lee-mei-ling", "primary-one-admission", "tsang-ho-yin"),  # someone else's child
    ("tsang-chi-keung", "senior-citizen-card", "tsang-ho-yin"),  # his child, but the service takes mandates only
    ("tsang-chi-keung", "primary-one-admission", None),  # a made-up reference
    ("yip-suk-fan", "elderly-health-care-voucher", "tsang-kam-po"),  # no mandate to her
])
async def test_acting_without_the_relationship_is_refused_and_says_nothing_of_the_person(
        api: Api, running: tuple[Engine, Client], caller: str, slug: str, subject: str | None) -> None:
    engine, _ = running
    ref = await ref_of(engine, subject) if subject is not None else "0" * 32
    payload = await start(api, await login(api, caller), slug, ref)
    assert payload["application"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "onBehalfOf"], "CANNOT_ACT_FOR")]
    assert payload["userErrors"][0]["message"].startswith("You cannot act for this person in this service")
    assert "TSANG" not in payload["userErrors"][0]["message"]


@pytest.mark.parametrize(("slug", "for_child", "fragment"), [
    ("renew-driving-licence", True, "only be applied for by the person it is for"),
    ("primary-one-admission", False, "choose who it is for with onBehalfOf"),
])
async def test_the_service_decides_whether_one_may_apply_for_another(
        api: Api, running: tuple[Engine, Client], slug: str, for_child: bool, fragment: str) -> None:
    engine, _ = running
    ref = await ref_of(engine, "tsang-ho-yin") if for_child else None
    payload = await start(api, await login(api, "tsang-chi-keung"), slug, ref)
    assert [e["code"] for e in payload["userErrors"]] == ["CANNOT_ACT_FOR"]
    assert fragment in payload["userErrors"][0]["message"]


@pytest.mark.slow
async def test_a_carer_with_a_health_mandate_applies_for_the_voucher(api: Api, running: tuple[Engine, Client]
                                                                     ) -> None:
    engine, _ = running
    carer = await login(api, "tsang-chi-keung")
    grandfather = await ref_of(engine, "tsang-kam-po")
    payload = await start(api, carer, "elderly-health-care-voucher", grandfather)
    assert payload["userErrors"] == []
    assert payload["application"]["subject"] == {"relationship": "MANDATE", "isYou": False, "name": "TSANG, Kam Po"}
    # Prefill reads the grandfather's records under the mandate, not the carer's (44, so not 65 or over).
    consented = (await api.data(CONSENT, {"id": payload["application"]["id"], "step": "records"}, carer))
    assert consented["grantConsent"]["userErrors"] == []
    values = {f["id"]: f["value"] for f in consented["grantConsent"]["application"]["currentStep"]["fields"]}
    assert values["aged65OrOver"] is True
    assert "TSANG, Kam Po" in values.values()
    assert "TSANG, Chi Keung" not in values.values()
    # The grandfather sees the access in his own data-access log.
    reads = (await api.data(READS, {}, await login(api, "tsang-kam-po")))["viewer"]["dataAccessLog"]["edges"]
    assert {"provider": "dh-records", "item": "health-care-voucher"} in [
        item for edge in reads for item in edge["node"]["items"]]
    refused = await start(api, carer, "public-rental-housing", grandfather)
    assert [e["code"] for e in refused["userErrors"]] == ["CANNOT_ACT_FOR"]
    # The grantor sees what is done in his name while the carer carries on.
    his = await login(api, "tsang-kam-po")
    seen = (await api.data(SEEN, {"id": payload["application"]["id"]}, his))["application"]
    assert seen["subject"]["isYou"] is True
    assert payload["application"]["id"] in [e["node"]["id"] for e in (await api.data(
        MY_APPLICATIONS, {}, his))["viewer"]["applications"]["edges"]]


async def test_granting_a_mandate_needs_a_face_level_sign_in(api: Api) -> None:
    result = await api.post(GRANT, {"input": mandate_input()}, await login(api, "tsang-kam-po"))
    assert codes_of(result) == ["INSUFFICIENT_USER_AUTHENTICATION"]
    assert (await dependents(api, "yip-suk-fan"))["mandatesReceived"] == []


@pytest.mark.parametrize(("grantor", "changes", "field", "code"), [
    ("tsang-kam-po", {"services": ["no-such-service"]}, ["input", "services", "0"], "NOT_FOUND"),
    ("tsang-kam-po", {"themes": [], "services": []}, ["input", "services"], "REQUIRED"),
    ("tsang-kam-po", {"validUntil": "2020-01-01T00:00:00Z"}, ["input", "validUntil"], "DATE_TOO_EARLY"),
    ("tsang-kam-po", {"granteeHkid": "A123456(3)"}, ["input", "granteeHkid"], "INVALID_HKID"),
    ("tsang-kam-po", {"granteeHkid": "D190342(0)"}, ["input", "granteeHkid"], "INVALID_HKID"),  # himself
    ("tsang-hoi-ching", {}, ["input", "granteeHkid"], "NOT_ELIGIBLE"),  # 17
])
async def test_a_bad_mandate_is_refused_with_a_clear_error(api: Api, grantor: str, changes: dict[str, Any],
                                                           field: list[str], code: str) -> None:
    face = await api.face_token(grantor, None)
    payload = (await api.data(GRANT, {"input": mandate_input(**changes)}, face))["grantMandate"]
    assert payload["mandate"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]


@pytest.mark.slow
async def test_the_grantor_revokes_a_mandate_and_the_carer_can_no_longer_start(
        api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    face = await api.face_token("tsang-kam-po", None)
    granted = (await api.data(GRANT, {"input": mandate_input()}, face))["grantMandate"]
    assert granted["userErrors"] == []
    mandate = granted["mandate"]
    assert (mandate["status"], mandate["grantorName"], mandate["granteeName"], mandate["themes"]) == (
        "ACTIVE", "TSANG, Kam Po", "YIP, Suk Fan", ["health"])
    carer = await login(api, "yip-suk-fan")
    assert [d["name"] for d in (await dependents(api, "yip-suk-fan"))["dependents"]
            if d["relationship"] == "MANDATE"] == ["TSANG, Kam Po"]
    grandfather = await ref_of(engine, "tsang-kam-po")
    started = await start(api, carer, "elderly-health-care-voucher", grandfather)
    assert started["userErrors"] == []
    application_id = started["application"]["id"]

    # Only the grantor can revoke; to anyone else the mandate does not exist.
    other = (await api.data(REVOKE, {"id": mandate["id"]}, carer))["revokeMandate"]
    assert [e["code"] for e in other["userErrors"]] == ["NOT_FOUND"]
    revoked = (await api.data(REVOKE, {"id": mandate["id"]}, await login(api, "tsang-kam-po")))["revokeMandate"]
    assert revoked["userErrors"] == []
    assert revoked["mandate"]["status"] == "REVOKED"

    assert [(m["id"], m["status"]) for m in (await dependents(api, "yip-suk-fan"))["mandatesReceived"]] == [
        (mandate["id"], "REVOKED")]
    again = await start(api, carer, "elderly-health-care-voucher", grandfather)
    assert [e["code"] for e in again["userErrors"]] == ["CANNOT_ACT_FOR"]
    # The application started under the mandate stops at the carer's next action, with a clear message.
    step = started["application"]["currentStep"]["id"]
    refused = (await api.data(ACTION, {"id": application_id, "step": step}, carer))["grantConsent"]
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "applicationId"], "CANNOT_ACT_FOR")]
    assert "no longer act for the person" in refused["userErrors"][0]["message"]
    # The draft is kept for the grantor: it is his now, listed among his applications, and the carer's no more.
    mine = await login(api, "tsang-kam-po")
    seen = await until_seen(api, application_id, mine)
    assert seen["subject"]["isYou"] is True
    assert "was revoked" in seen["timeline"][-1]["message"]
    assert application_id in [e["node"]["id"] for e in (await api.data(
        MY_APPLICATIONS, {}, mine))["viewer"]["applications"]["edges"]]
    assert (await api.data(SEEN, {"id": application_id}, carer))["application"] is None


SEEN = """query($id: ID!) { application(id: $id) { id status subject { isYou } timeline { message } } }"""
MY_APPLICATIONS = """query { viewer { applications(first: 50) { edges { node { id } } } } }"""


async def until_seen(api: Api, application_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The application as ``headers``' citizen sees it, once it is theirs (a signal is applied in a moment)."""
    for _ in range(100):
        found: dict[str, Any] | None = (await api.data(SEEN, {"id": application_id}, headers))["application"]
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("the application never became theirs")


async def test_relationship_rows_hold_no_personal_data_in_clear(running: tuple[Engine, Client]) -> None:
    engine, _ = running
    rows: list[Any] = []
    async with engine.database.engine.connect() as conn:
        for table in ("birth_registrations", "mandates", "citizen_identifiers", "application_parties"):
            rows += (await conn.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608
    dumped = " ".join(str(row) for row in rows)
    assert dumped
    for clear in ("TSANG", "2021-03-08", "V731402", "D190342", "health-care-voucher"):
        assert clear not in dumped


@pytest.mark.slow
async def test_the_18th_birthday_ends_parental_access_at_the_next_action(
        api: Api, running: tuple[Engine, Client], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = running
    parent = await login(api, "tsang-chi-keung")
    daughter = await ref_of(engine, "tsang-hoi-ching")
    started = await start(api, parent, "child-immunisation-appointment", daughter)
    assert started["userErrors"] == []
    # Her 18th birthday (2026-12-20): the age is computed from the registered date of birth on every read.
    monkeypatch.setattr(engine.relationships.births, "today", lambda: date(2026, 12, 20))
    assert [d["name"] for d in (await dependents(api, "tsang-chi-keung"))["dependents"]] == [
        "TSANG, Ho Yin", "TSANG, Kam Po"]
    again = await start(api, parent, "child-immunisation-appointment", daughter)
    assert [e["code"] for e in again["userErrors"]] == ["CANNOT_ACT_FOR"]
    step = started["application"]["currentStep"]["id"]
    refused = (await api.data(ACTION, {"id": started["application"]["id"], "step": step}, parent))["grantConsent"]
    assert [e["code"] for e in refused["userErrors"]] == ["CANNOT_ACT_FOR"]


WITHDRAW = """mutation($id: ID!) { withdrawApplication(input: {applicationId: $id}) {
  application { id status } userErrors { field message code } } }"""


async def test_the_new_adult_sees_the_applications_a_parent_made_for_them(
        api: Api, running: tuple[Engine, Client], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = running
    monkeypatch.setattr(engine.relationships.births, "today", lambda: date(2026, 12, 19))  # the day before 18
    parent = await login(api, "tsang-chi-keung")
    daughter_ref = await ref_of(engine, "tsang-hoi-ching")
    started = await start(api, parent, "child-immunisation-appointment", daughter_ref)
    assert started["userErrors"] == []
    application_id = started["application"]["id"]
    closed = (await api.data(WITHDRAW, {"id": application_id}, parent))["withdrawApplication"]
    assert closed["application"]["status"] == "WITHDRAWN"  # its workflow has ended: no timer moves it any more
    daughter = await login(api, "tsang-hoi-ching")
    listed = (await api.data(MY_APPLICATIONS, {}, daughter))["viewer"]["applications"]["edges"]
    assert application_id not in [e["node"]["id"] for e in listed]  # a minor: it is her parent's to see
    assert (await api.data(SEEN, {"id": application_id}, daughter))["application"] is None

    monkeypatch.setattr(engine.relationships.births, "today", lambda: date(2026, 12, 20))  # 18 today
    listed = (await api.data(MY_APPLICATIONS, {}, daughter))["viewer"]["applications"]["edges"]
    assert application_id in [e["node"]["id"] for e in listed]
    seen = (await api.data(SEEN, {"id": application_id}, daughter))["application"]
    assert seen["status"] == "WITHDRAWN"
    assert seen["subject"]["isYou"] is True
    # Reading is all: its actions stay with whoever made it.
    refused = (await api.data(WITHDRAW, {"id": application_id}, daughter))["withdrawApplication"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    # Her brother, still a minor, sees nothing of it.
    son = await login(api, "tsang-ho-yin")
    assert (await api.data(SEEN, {"id": application_id}, son))["application"] is None


async def test_the_acting_check_gives_the_durable_end_of_the_right_and_what_the_service_does_then(
        running: tuple[Engine, Client], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = running
    monkeypatch.setattr(engine.relationships.births, "today", lambda: date(2026, 12, 1))
    catalogue = engine.catalogue.catalogue
    parent = await engine.data.citizens.ensure(citizen_sub(engine.settings, "tsang-chi-keung"))
    daughter, son = await ref_of(engine, "tsang-hoi-ching"), await ref_of(engine, "tsang-ho-yin")
    immunisation = catalogue.service("child-immunisation-appointment")
    admission = catalogue.service("primary-one-admission")
    assert immunisation is not None
    assert admission is not None
    for_her = await engine.relationships.authorise(parent, daughter, immunisation)
    assert (for_her.until, for_her.on_end) == (datetime(2026, 12, 20, tzinfo=UTC), "close")  # `whenActingEnds`
    for_him = await engine.relationships.authorise(parent, son, admission)
    assert (for_him.until, for_him.on_end) == (datetime(2039, 3, 8, tzinfo=UTC), "move")  # the default
    grandfather = await ref_of(engine, "tsang-kam-po")
    voucher = catalogue.service("elderly-health-care-voucher")
    assert voucher is not None
    under_mandate = await engine.relationships.authorise(parent, grandfather, voucher)
    assert under_mandate.mandate_id is not None
    mandate = next(m for m in await engine.relationships.mandates.received(parent) if m.id == under_mandate.mandate_id)
    assert under_mandate.until == mandate.valid_until


async def submit(api: Api, headers: dict[str, str], application_id: str, step: str, answers: dict[str, Any]
                 ) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(SUBMIT, {"id": application_id, "step": step, "answers": answers},
                                              headers))["submitStep"]
    assert payload["userErrors"] == [], payload
    return payload


@pytest.mark.slow
async def test_a_parent_completes_primary_one_with_the_child_prefilled_from_the_birth_record(
        api: Api, running: tuple[Engine, Client]) -> None:
    engine, _ = running
    parent = await login(api, "tsang-chi-keung")
    son = await ref_of(engine, "tsang-ho-yin")
    started = await start(api, parent, "primary-one-admission", son)
    assert started["userErrors"] == []
    application_id = started["application"]["id"]
    # The consent screen says whose data is fetched, and on what right.
    screen = (await api.data(CONSENT_SCREEN, {"id": application_id}, parent))["application"]["currentStep"]
    assert (screen["id"], screen["type"]) == ("records", "PREFILL")
    assert screen["dataSubject"] == {"relationship": "PARENT", "isYou": False, "name": "TSANG, Ho Yin"}
    assert "their parent (from the birth registration)" in screen["actingBasis"]
    consented = (await api.data(CONSENT, {"id": application_id, "step": "records"}, parent))["grantConsent"]
    assert consented["userErrors"] == []
    # Then the parent's own contact details, from the parent's own e-ME profile (`of: actor`).
    screen = (await api.data(CONSENT_SCREEN, {"id": application_id}, parent))["application"]["currentStep"]
    assert (screen["id"], screen["dataSubject"], screen["actingBasis"]) == (
        "parent", {"relationship": "PARENT", "isYou": True, "name": None}, None)
    consented = (await api.data(CONSENT, {"id": application_id, "step": "parent"}, parent))["grantConsent"]
    assert consented["userErrors"] == []
    values = {f["id"]: f["value"] for f in consented["application"]["currentStep"]["fields"]}
    # The child's name, date of birth and birth certificate number come from his birth record, the parent's name
    # from the parent's profile.
    assert (values["childName"], values["childDateOfBirth"], values["childBirthCertificate"]) == (
        "TSANG, Ho Yin", "2021-03-08", "V731402(7)")
    assert values["parentName"] == "TSANG, Chi Keung"
    await submit(api, parent, application_id, "child", values | {
        "childGender": "male", "kindergarten": "Kwai Chung Baptist Kindergarten"})
    await submit(api, parent, application_id, "choices", {"schoolNet": "11"})
    await submit(api, parent, application_id, "check", {"oneApplication": True})
    done = await submit(api, parent, application_id, "send", {})
    assert done["application"]["status"] == "SUBMITTED"

    # The department receives actor and subject (by reference) in the signed submission, and sees both.
    parsed = from_global_id(application_id)
    assert parsed is not None
    delivered: list[Any] = []
    for _ in range(100):  # delivery runs as an activity after the citizen's submit is answered
        delivered = [item for item in await delivery.inbox(engine.database, engine.data.cipher, "EDB")
                     if item.application_id == parsed[1]]
        if delivered:
            break
        await asyncio.sleep(0.1)
    assert len(delivered) == 1
    signed = engine.data.signer.verify_submission(delivered[0].jws)
    father = await ref_of(engine, "tsang-chi-keung")
    assert signed["actor"] == {"ref": father, "relationship": "parent"}
    assert signed["subject"] == {"ref": son}
    assert signed["citizen"] == father
    staff = await api.token({"staff": "edb-officer"})
    seen = (await api.data(STAFF_VIEW, {"id": application_id}, staff))["application"]
    assert (seen["actor"], seen["subject"]) == ({"relationship": "PARENT", "isYou": False, "name": None},
                                                {"relationship": "PARENT", "isYou": False, "name": None})

    # The parent sees the reads in the child's own log, as the parent who acted.
    log = (await api.data(DEPENDENT_LOG, {"who": son}, parent))["viewer"]["dependentAccessLog"]
    reads = [e["node"] for e in log["edges"] if e["node"]["applicationId"] == parsed[1]]
    assert {"provider": "immd-records", "item": "hkid"} in [i for r in reads for i in r["items"]]
    assert {(str(r["actor"]), str(r["subject"])) for r in reads} == {(
        str({"relationship": "PARENT", "isYou": True, "name": None}),
        str({"relationship": "PARENT", "isYou": False, "name": "TSANG, Ho Yin"}))}
    # The child sees the same entries and consent, made by his parent.
    own = (await api.data(OWN_LOG, {}, await login(api, "tsang-ho-yin")))["viewer"]
    mine = [e["node"] for e in own["dataAccessLog"]["edges"] if e["node"]["applicationId"] == parsed[1]]
    assert mine
    assert all(r["actor"] == {"relationship": "PARENT", "isYou": False, "name": None} and
                        r["subject"] == {"relationship": "PARENT", "isYou": True, "name": None} for r in mine)
    (consent,) = [c for c in own["consents"] if c["applicationId"] == parsed[1]]
    assert consent["actor"] == {"relationship": "PARENT", "isYou": False, "name": None}
    # The signed consent artefact names the actor too.
    stored = [c for c in await engine.data.consents.list(citizen_sub(engine.settings, "tsang-ho-yin"))
              if c.application_id == parsed[1]]
    assert [c.actor_ref for c in stored] == [father]
    engine.data.consents.verify(stored[0])


@pytest.mark.parametrize(("viewer", "whose"), [
    ("lee-mei-ling", "tsang-ho-yin"),  # someone else's child
    ("tsang-chi-keung", "tsang-kam-po"),  # a mandate's grantor keeps his log to himself
    ("tsang-kam-po", "tsang-chi-keung"),  # an adult child
    ("tsang-chi-keung", None),  # a made-up reference
])
async def test_no_one_else_reads_a_dependents_access_log(api: Api, running: tuple[Engine, Client], viewer: str,
                                                       whose: str | None) -> None:
    engine, _ = running
    ref = await ref_of(engine, whose) if whose is not None else "0" * 32
    result = await api.data(DEPENDENT_LOG, {"who": ref}, await login(api, viewer))
    assert result["viewer"]["dependentAccessLog"] is None


async def test_parties_once_read_are_kept_and_none_only_for_an_application_known_to_exist(
        running: tuple[Engine, Client]) -> None:
    from onestop.engine.relationships.parties import Acting, ActingAs, record_parties

    engine, _ = running
    relationships = engine.relationships
    parent = await engine.data.citizens.ensure(citizen_sub(engine.settings, "tsang-chi-keung"))
    child = await engine.data.citizens.ensure(citizen_sub(engine.settings, "tsang-hoi-ching"))
    acting = Acting(parent, child, ActingAs.PARENT)
    # Asked about before it was started: "none" is not kept, so the parties recorded at its start are found.
    assert await relationships.parties("app-asked-early") is None
    await record_parties(engine.database, "app-asked-early", acting)
    found = await relationships.parties("app-asked-early")
    assert found is not None
    assert (found.actor_ref, found.subject_ref) == (parent.ref, child.ref)
    # Once the application is known to exist, "none" is settled: it is kept, as parties once read are.
    relationships.exists("app-for-self")
    assert await relationships.parties("app-for-self") is None
    await record_parties(engine.database, "app-for-self", acting)  # cannot happen after a start; shows the keeping
    assert await relationships.parties("app-for-self") is None
    async with engine.database.session() as session:
        row = await session.get(ApplicationPartyRow, "app-asked-early")
        assert row is not None
        row.subject_ref = "someone-else"
    assert await relationships.parties("app-asked-early") == found


async def test_a_self_started_application_is_known_to_have_no_parties_without_a_read(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from onestop.engine.relationships import acting

    async def no_read(*_: object) -> None:
        raise AssertionError("the parties of a self-started application were read from the database")

    monkeypatch.setattr(acting, "parties_of", no_read)
    engine.relationships.exists("self-started", own=True)
    assert await engine.relationships.parties("self-started") is None
    engine.relationships.exists("started-for-someone")  # not known to be its applicant's own: read
    with pytest.raises(AssertionError, match="were read"):
        await engine.relationships.parties("started-for-someone")
