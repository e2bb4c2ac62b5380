"""A citizen completes a seed service through GraphQL over HTTP; the department sees and decides it.

Real pieces throughout: the seed catalogue, the dev IdP's tokens, the consent gateway over SQLite, a real
Temporal dev server with the encrypting codec, and a worker running the engine's activities.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from client import FACE, STANDARD, Api, pay_fee
from running import running_seed
from temporalio.client import WorkflowHandle

from onestop.engine import IndexEntry
from onestop.engine.applications import index
from onestop.engine.container import Engine
from onestop.engine.dev.idp import citizen_sub
from onestop.graphql.relay import to_global_id

APPLICATION = """
fragment A on Application {
  id status referenceNumber definitionVersion answers delivered
  currentStep { id type title fields { id type label required value prefilled source options { value label } } }
  steps { id state }
  timeline { status message author }
}
"""
START = APPLICATION + """mutation($slug: String!, $cmid: String) {
  startApplication(input: {serviceSlug: $slug, clientMutationId: $cmid}) {
    application { ...A } userErrors { field message code } } }"""
GRANT = APPLICATION + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
STEP_UP = APPLICATION + """mutation($id: ID!, $step: String!) {
  completeStepUp(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
GET = APPLICATION + "query($id: ID!) { application(id: $id) { ...A } }"
MINE = "{ viewer { applications(first: 100) { totalCount edges { node { id status definitionVersion } } } } }"
RESPOND = APPLICATION + """mutation($id: ID!, $message: String!) {
  respondToRequest(input: {applicationId: $id, message: $message}) {
    application { ...A } userErrors { field message code } } }"""
INBOX = "{ departmentInbox(first: 10) { totalCount edges { node { id status referenceNumber answers } } } }"
DECIDE = """mutation($id: ID!, $status: ApplicationStatus!, $message: String) {
  updateApplicationStatus(input: {applicationId: $id, status: $status, message: $message}) {
    application { status timeline { status message } } userErrors { field code message } } }"""

REDELIVER = """mutation($id: ID!) { redeliverApplication(input: {applicationId: $id}) {
    application { status } userErrors { field code message } } }"""


running, engine, api = running_seed("apps-data")




def field_values(app: Mapping[str, Any]) -> dict[str, Any]:
    return {f["id"]: f["value"] for f in app["currentStep"]["fields"]}


@pytest.mark.slow
async def test_a_citizen_renews_a_driving_licence_and_the_department_approves_it(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    started = (await api.data(START, {"slug": "renew-driving-licence", "cmid": uuid.uuid4().hex}, citizen))
    app = started["startApplication"]["application"]
    assert app["status"] == "DRAFT"
    assert app["currentStep"]["type"] == "PREFILL"
    app_id = app["id"]

    app = (await api.data(GRANT, {"id": app_id, "step": "your-details"}, citizen))["grantConsent"]["application"]
    assert app["currentStep"]["id"] == "licence"
    fields = {f["id"]: f for f in app["currentStep"]["fields"]}
    assert fields["hkid"]["prefilled"]
    assert fields["hkid"]["value"] == "K305518(3)"
    assert fields["licenceNumber"]["value"] == "K305518(3)"
    assert fields["licenceNumber"]["source"]

    answers = {k: v for k, v in field_values(app).items() if v is not None} | {"period": "10"}
    bad = (await api.data(SUBMIT, {"id": app_id, "step": "licence", "answers": answers | {"hkid": "K305518(4)"}},
                          citizen))["submitStep"]
    assert bad["application"] is None
    assert bad["userErrors"] == [{"field": ["input", "answers", "hkid"], "code": "INVALID_HKID",
                                  "message": bad["userErrors"][0]["message"]}]
    app = (await api.data(SUBMIT, {"id": app_id, "step": "licence", "answers": answers}, citizen)
           )["submitStep"]["application"]
    assert app["currentStep"]["id"] == "share-with-police"  # the medical step applies from 70 only
    app = (await api.data(GRANT, {"id": app_id, "step": "share-with-police"}, citizen))["grantConsent"]["application"]
    assert app["currentStep"]["id"] == "verify-face"

    refused = await api.post(STEP_UP, {"id": app_id, "step": "verify-face"}, citizen)
    extensions = refused["errors"][0]["extensions"]
    assert extensions["code"] == "INSUFFICIENT_USER_AUTHENTICATION"
    assert (extensions["acr_values"], extensions["max_age"]) == (FACE, 300)
    key = (await api.client.post("/graphql", json={"query": "{ __typename }"})).status_code  # app still serves
    assert key == 200
    from onestop.graphql.relay import from_global_id

    parsed = from_global_id(app_id)
    assert parsed is not None
    face = await api.face_token("wong-ka-fai", f"{parsed[1]}:verify-face")
    app = (await api.data(STEP_UP, {"id": app_id, "step": "verify-face"}, face))["completeStepUp"]["application"]
    assert app["currentStep"]["id"] == "check"
    app = (await api.data(SUBMIT, {"id": app_id, "step": "check", "answers": {"declaration": True}}, citizen)
           )["submitStep"]["application"]
    assert app["currentStep"]["id"] == "fee"
    await pay_fee(api, app_id, "fee", citizen)
    app = (await api.data(SUBMIT, {"id": app_id, "step": "send", "answers": {}}, citizen))["submitStep"]["application"]
    assert app["status"] == "SUBMITTED"
    assert app["referenceNumber"].startswith("TD-2026-")

    mine = (await api.data(MINE, headers=citizen))["viewer"]["applications"]
    listed = next(e["node"] for e in mine["edges"] if e["node"]["id"] == app_id)
    assert listed["status"] == "SUBMITTED"
    assert listed["definitionVersion"] == app["definitionVersion"]  # beyond the index: queried on demand

    officer = await api.token({"staff": "td-officer"})
    for _ in range(50):  # the index is written by an activity just after the submit update returns
        inbox = (await api.data(INBOX, headers=officer))["departmentInbox"]
        if app_id in [e["node"]["id"] for e in inbox["edges"]]:
            break
        await asyncio.sleep(0.1)
    assert app_id in [e["node"]["id"] for e in inbox["edges"]]
    other = await api.token({"staff": "immd-officer"})
    assert app_id not in [e["node"]["id"] for e in
                          (await api.data(INBOX, headers=other))["departmentInbox"]["edges"]]
    foreign = (await api.data(DECIDE, {"id": app_id, "status": "APPROVED"}, other))["updateApplicationStatus"]
    assert foreign["userErrors"][0]["code"] == "NOT_FOUND"
    # Redelivery is for operators, and only for an application whose delivery failed (this one was delivered).
    refused_redelivery = await api.post(REDELIVER, {"id": app_id}, officer)
    assert refused_redelivery["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "operator" in refused_redelivery["errors"][0]["message"]
    operator = await api.token({"staff": "td-supervisor"})
    delivered = (await api.data(REDELIVER, {"id": app_id}, operator))["redeliverApplication"]
    assert [(e["field"], e["code"]) for e in delivered["userErrors"]] == [(["input", "applicationId"],
                                                                          "NOT_DELIVERY_FAILED")]

    decided = (await api.data(DECIDE, {"id": app_id, "status": "NEEDS_INFO", "message": "Upload a photo"}, officer)
               )["updateApplicationStatus"]["application"]
    assert decided["status"] == "NEEDS_INFO"
    stranger = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    foreign_reply = (await api.data(RESPOND, {"id": app_id, "message": "Mine"}, stranger))["respondToRequest"]
    assert [e["code"] for e in foreign_reply["userErrors"]] == ["NOT_FOUND"]
    blank = (await api.data(RESPOND, {"id": app_id, "message": ""}, citizen))["respondToRequest"]
    assert [(e["field"], e["code"]) for e in blank["userErrors"]] == [(["input", "message"], "REQUIRED")]
    replied = (await api.data(RESPOND, {"id": app_id, "message": "Photo uploaded"}, citizen))["respondToRequest"]
    assert replied["userErrors"] == []
    assert replied["application"]["status"] == "IN_REVIEW"
    assert replied["application"]["timeline"][-1] == {"status": "IN_REVIEW", "message": "Photo uploaded",
                                                      "author": "CITIZEN"}
    by_status = """query($status: ApplicationStatus) { departmentInbox(first: 10, status: $status) {
      edges { node { id status timeline { message author } } } } }"""
    in_review = (await api.data(by_status, {"status": "IN_REVIEW"}, officer))["departmentInbox"]["edges"]
    mine_in_review = next(e["node"] for e in in_review if e["node"]["id"] == app_id)
    assert mine_in_review["timeline"][-2:] == [{"message": "Upload a photo", "author": "DEPARTMENT"},
                                               {"message": "Photo uploaded", "author": "CITIZEN"}]

    refused = (await api.data(DECIDE, {"id": app_id, "status": "APPROVED"}, officer))["updateApplicationStatus"]
    assert refused["application"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "status"], "APPROVER_REQUIRED")]
    assert "approver must decide" in refused["userErrors"][0]["message"]
    supervisor = await api.token({"staff": "td-supervisor"})
    approved = (await api.data(DECIDE, {"id": app_id, "status": "APPROVED"}, supervisor))["updateApplicationStatus"]
    assert approved["userErrors"] == []
    seen = (await api.data(GET, {"id": app_id}, citizen))["application"]
    assert seen["status"] == "APPROVED"
    assert [t["status"] for t in seen["timeline"]][-4:] == ["SUBMITTED", "NEEDS_INFO", "IN_REVIEW", "APPROVED"]
    assert seen["timeline"][-3]["message"] == "Upload a photo"
    assert seen["timeline"][0]["author"] == "SYSTEM"


async def test_another_citizen_sees_nothing_of_an_application(api: Api) -> None:
    owner = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    app = (await api.data(START, {"slug": "renew-driving-licence", "cmid": uuid.uuid4().hex}, owner)
           )["startApplication"]["application"]
    stranger = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    assert (await api.data(GET, {"id": app["id"]}, stranger))["application"] is None
    moved = (await api.data(GRANT, {"id": app["id"], "step": "your-details"}, stranger))["grantConsent"]
    assert moved["userErrors"][0]["code"] == "NOT_FOUND"


async def test_the_current_step_is_rendered_in_the_request_language(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD}, lang="zh-HK")
    app = (await api.data(START, {"slug": "renew-driving-licence", "cmid": uuid.uuid4().hex}, citizen)
           )["startApplication"]["application"]
    assert app["currentStep"]["title"] == "使用政府已有的資料"


async def test_an_unknown_service_is_a_user_error(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    result = (await api.data(START, {"slug": "no-such-service"}, citizen))["startApplication"]
    assert result["userErrors"][0]["field"] == ["input", "serviceSlug"]


DECLINE = APPLICATION + """mutation($id: ID!, $step: String!) {
  declineConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
BACK = APPLICATION + """mutation($id: ID!, $step: String!, $cmid: String) {
  goBack(input: {applicationId: $id, stepId: $step, clientMutationId: $cmid}) {
    application { ...A } userErrors { field code } clientMutationId } }"""
WITHDRAW = APPLICATION + """mutation($id: ID!) {
  withdrawApplication(input: {applicationId: $id}) { application { ...A } userErrors { field code } } }"""


async def test_declining_prefill_leaves_fields_for_the_citizen_to_type(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    app = (await api.data(START, {"slug": "renew-driving-licence", "cmid": uuid.uuid4().hex}, citizen)
           )["startApplication"]["application"]
    app = (await api.data(DECLINE, {"id": app["id"], "step": "your-details"}, citizen))["declineConsent"]["application"]
    assert app["currentStep"]["id"] == "licence"
    assert all(not f["prefilled"] and f["value"] is None for f in app["currentStep"]["fields"])


async def test_going_back_and_withdrawing_through_graphql(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    app = (await api.data(START, {"slug": "renew-driving-licence", "cmid": uuid.uuid4().hex}, citizen)
           )["startApplication"]["application"]
    app = (await api.data(GRANT, {"id": app["id"], "step": "your-details"}, citizen))["grantConsent"]["application"]
    refused = (await api.data(BACK, {"id": app["id"], "step": "licence"}, citizen))["goBack"]
    assert refused["userErrors"] == [{"field": ["input", "stepId"], "code": "STEP_NOT_COMPLETED"}]
    back = (await api.data(BACK, {"id": app["id"], "step": "your-details", "cmid": "b1"}, citizen))["goBack"]
    assert back["clientMutationId"] == "b1"
    assert back["application"]["currentStep"]["id"] == "your-details"
    assert [s["state"] for s in back["application"]["steps"]][:2] == ["CURRENT", "TODO"]
    gone = (await api.data(WITHDRAW, {"id": app["id"]}, citizen))["withdrawApplication"]["application"]
    assert gone["status"] == "WITHDRAWN"
    assert gone["currentStep"] is None
    again = (await api.data(WITHDRAW, {"id": app["id"]}, citizen))["withdrawApplication"]
    assert again["userErrors"][0]["code"] == "NOT_WITHDRAWABLE"


async def test_concurrent_starts_with_one_client_mutation_id_give_one_application(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    cmid = uuid.uuid4().hex
    results = await asyncio.gather(*(api.data(START, {"slug": "renew-driving-licence", "cmid": cmid}, citizen)
                                     for _ in range(3)))
    assert len({r["startApplication"]["application"]["id"] for r in results}) == 1


BRIEF_START = """mutation($slug: String!, $cmid: String) {
  startApplication(input: {serviceSlug: $slug, clientMutationId: $cmid}) {
    application { id status currentStep { id fields { id value } } steps { id state } }
    userErrors { field message code } } }"""


async def test_a_start_asks_the_workflow_nothing_more_and_a_retried_start_sees_the_application_as_it_is(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[str] = []
    ask = WorkflowHandle.query

    async def counted(self: WorkflowHandle[Any, Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        queries.append(str(query))
        return await ask(self, query, *args, **kwargs)

    monkeypatch.setattr(WorkflowHandle, "query", counted)
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    cmid = uuid.uuid4().hex
    app = (await api.data(BRIEF_START, {"slug": "renew-driving-licence", "cmid": cmid}, citizen)
           )["startApplication"]["application"]
    assert (app["status"], app["currentStep"]["id"]) == ("DRAFT", "your-details")
    assert app["steps"][0] == {"id": "your-details", "state": "CURRENT"}
    assert queries == []  # the start's own (brief) answer is rendered from the snapshot it pinned
    moved = (await api.data(GRANT, {"id": app["id"], "step": "your-details"}, citizen))["grantConsent"]
    assert moved["application"]["currentStep"]["id"] == "licence"
    queries.clear()
    again = (await api.data(BRIEF_START, {"slug": "renew-driving-licence", "cmid": cmid}, citizen)
             )["startApplication"]["application"]
    assert again["id"] == app["id"]
    assert again["currentStep"]["id"] == "licence"  # the whole view as it is now, still without a query
    assert again["steps"][0] == {"id": "your-details", "state": "DONE"}
    assert queries == []


async def test_application_mutations_need_a_citizen_login(api: Api) -> None:
    result = await api.post(START, {"slug": "renew-driving-licence"})
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    staff = await api.token({"staff": "td-officer"})
    result = await api.post(START, {"slug": "renew-driving-licence"}, staff)
    assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"


MY_PAGE = """query($first: Int, $after: String, $status: ApplicationStatus) {
  viewer { applications(first: $first, after: $after, status: $status) {
    totalCount edges { cursor node { id status referenceNumber createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""
INBOX_PAGE = """query($first: Int, $after: String, $status: ApplicationStatus) {
  departmentInbox(first: $first, after: $after, status: $status) {
    totalCount edges { cursor node { id status referenceNumber createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
PAGED = 130
PAGED_AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def paged(engine: Engine) -> list[IndexEntry]:
    """Index entries for one citizen, all submitted to IMMD (a department no other test here applies to),
    newest first; pairs share a second so the id decides between them."""
    ref = (await engine.data.citizens.ensure(citizen_sub(engine.settings, "ng-wing-sze"))).ref
    entries = [IndexEntry(f"app-paging-{n:03d}", ref, "hksar-passport", "IMMD",
                          "IN_REVIEW" if n % 3 else "SUBMITTED", f"IMMD-2025-{n:06d}",
                          PAGED_AT + timedelta(seconds=n // 2), PAGED_AT + timedelta(seconds=n // 2))
               for n in range(PAGED)]
    for entry in entries:
        await index.record(engine.database, entry)
    return sorted(entries, key=lambda e: (-e.created_at.timestamp(), e.application_id))


async def follow_pages(api: Api, query: str, path: str, headers: Mapping[str, str], first: int,
                       status: str | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Every node id, following pageInfo.endCursor from the first page to the last, and each page."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = (await api.data(query, {"first": first, "after": after, "status": status}, headers))
        for key in path.split("."):
            page = page[key]
        pages.append(page)
        ids.extend(edge["node"]["id"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return ids, pages
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize(("who", "query", "path", "status"), [
    ({"citizen": "ng-wing-sze", "acr": STANDARD}, MY_PAGE, "viewer.applications", None),
    ({"citizen": "ng-wing-sze", "acr": STANDARD}, MY_PAGE, "viewer.applications", "IN_REVIEW"),
    ({"staff": "immd-officer"}, INBOX_PAGE, "departmentInbox", None),
    ({"staff": "immd-officer"}, INBOX_PAGE, "departmentInbox", "SUBMITTED"),
], ids=["citizen", "citizen-in-review", "department", "department-submitted"])
async def test_lists_page_with_after_cursors_to_the_last_entry(api: Api, paged: list[IndexEntry], who: dict[str, str],
                                                               query: str, path: str, status: str | None) -> None:
    expected = [e for e in paged if status is None or e.status == status]
    ids, pages = await follow_pages(api, query, path, await api.token(who), first=20, status=status)
    assert ids == [to_global_id("Application", e.application_id) for e in expected]
    assert [len(p["edges"]) for p in pages] == [20] * (len(expected) // 20) + [len(expected) % 20]
    assert {p["totalCount"] for p in pages} == {len(expected)}
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False] + [True] * (len(pages) - 1)
    assert all(p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"] for p in pages)
    last = pages[-1]["edges"][-1]["node"]
    assert (last["status"], last["referenceNumber"]) == (expected[-1].status, expected[-1].reference_number)


async def test_a_cursor_of_the_last_entry_gives_an_empty_last_page(api: Api, paged: list[IndexEntry]) -> None:
    citizen = await api.token({"citizen": "ng-wing-sze", "acr": STANDARD})
    whole = (await api.data(MY_PAGE, {"first": 100}, citizen))["viewer"]["applications"]
    rest = (await api.data(MY_PAGE, {"first": 100, "after": whole["pageInfo"]["endCursor"]}, citizen)
            )["viewer"]["applications"]
    end = (await api.data(MY_PAGE, {"first": 100, "after": rest["pageInfo"]["endCursor"]}, citizen)
           )["viewer"]["applications"]
    assert len(whole["edges"]) + len(rest["edges"]) == PAGED
    assert end["edges"] == []
    assert end["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True, "startCursor": None,
                               "endCursor": None}


@pytest.mark.parametrize(("variables", "argument"), [
    ({"after": "not-a-cursor"}, "after"),
    ({"after": to_global_id("cursor", "3")}, "after"),  # an offset cursor, as the catalogue's lists give
    ({"after": to_global_id("position", "yesterday app-1")}, "after"),
    ({"after": to_global_id("position", "2026-03-01T09:00:00 app-1")}, "after"),  # no time zone
    ({"first": 0}, "first"),
    ({"first": 101}, "first"),
])
@pytest.mark.parametrize(("who", "query"), [({"citizen": "ng-wing-sze", "acr": STANDARD}, MY_PAGE),
                                            ({"staff": "immd-officer"}, INBOX_PAGE)], ids=["citizen", "department"])
async def test_a_bad_page_argument_is_bad_user_input(api: Api, who: dict[str, str], query: str,
                                                     variables: dict[str, Any], argument: str) -> None:
    result = await api.post(query, variables, await api.token(who))
    assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["argument"] == argument
