"""Answers a citizen can trust: numbers, conditions, group entries, text, exits and consents, through GraphQL.

Real pieces: a definitions tree with a means-tested service, a real Temporal dev server with a worker, the
Starlette app over HTTP and a SQLite database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from client import Api
from graphql_api import write_tree
from running import dev_settings, running_engine
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.graphql.app import create_app

MEANS_TEST = """\
id: means-test
version: 7
department: DH
title: {en: Means-tested allowance, tc: 入息審查津貼}
summary: {en: An allowance with an assets limit., tc: 設資產上限的津貼。}
keywords: {en: [], tc: []}
themes: [health]
ageGroups: [adult]
login: none
draftExpiry: P1D
steps:
  - id: means
    type: form
    title: {en: Income and assets, tc: 入息及資產}
    fields:
      - {id: cash, type: number, label: {en: Cash, tc: 現金}, required: true, min: 0}
      - {id: shares, type: number, label: {en: Shares, tc: 股票}, min: 0}
      - id: household
        type: number
        integer: true
        label: {en: People in the household, tc: 家庭人數}
        required: true
        min: 1
        max: 20
        rules:
          - check: "(answers.cash + (has(answers.shares) ? answers.shares : 0.0)) / double(value) <= 80000.0"
            message: {en: Assets per person are above the limit., tc: 每人資產超出上限。}
      - id: why
        type: text
        label: {en: Why so much cash?, tc: 為何有大量現金？}
        when: answers.cash + 0.5 > 50000.0
        required: true
  - id: over-limit
    type: exit
    when: "answers.cash + (has(answers.shares) ? answers.shares : 0.0) > 100000.0"
    title: {en: Assets above the limit, tc: 資產超出上限}
    message: {en: Your assets are above the limit of HK$100000., tc: 你的資產超出十萬港元的上限。}
  - id: family
    type: form
    title: {en: Your family, tc: 你的家人}
    fields:
      - id: members
        type: group
        label: {en: Members, tc: 成員}
        fields:
          - {id: memberName, type: text, label: {en: Name, tc: 姓名}, required: true}
          - {id: memberAge, type: number, integer: true, label: {en: Age, tc: 年齡}, required: true, min: 0}
          - id: memberIncome
            type: number
            label: {en: Monthly income, tc: 每月入息}
            when: entry.memberAge >= 18
            required: true
            rules:
              - check: value <= 20000.0 || entry.memberAge >= 65
                message: {en: Income above the limit for a member under 65., tc: 65歲以下成員入息超出上限。}
      - {id: notes, type: text, label: {en: Notes, tc: 備註}, multiline: true}
      - id: adults
        type: number
        integer: true
        label: {en: Adults, tc: 成人}
        min: 0
        rules:
          - check: 100 / value > 0
            message: {en: Never shown, tc: 不會顯示}
  - id: terms
    type: consent
    title: {en: Checks, tc: 查核}
    statement: {en: I agree to checks of my assets., tc: 本人同意查核資產。}
    required: true
  - id: send
    type: submit
    title: {en: Submit, tc: 遞交}
"""

FRAGMENT = """
fragment A on Application { id status answers exitMessage currentStep { id type } }
"""
START = FRAGMENT + """mutation { startApplication(input: {serviceSlug: "means-test"}) {
  application { ...A } resumeToken userErrors { field code } } }"""
SUBMIT = FRAGMENT + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
GO_BACK = FRAGMENT + """mutation($id: ID!, $step: String!) {
  goBack(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
DECLINE = FRAGMENT + """mutation($id: ID!, $step: String!) {
  declineConsent(input: {applicationId: $id, stepId: $step}) {
    application { ...A } userErrors { field message code } } }"""
WITHDRAW = FRAGMENT + """mutation($id: ID!) {
  withdrawApplication(input: {applicationId: $id}) { application { ...A } userErrors { field code } } }"""
GET = FRAGMENT + "query($id: ID!) { application(id: $id) { ...A } }"

MEANS_OK = {"cash": 1000, "household": 2}
MEMBER = {"memberName": "Chan Siu Ming", "memberAge": 30, "memberIncome": 15000}


@pytest.fixture(scope="module")
async def engine(temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Engine]:
    tree = write_tree(tmp_path_factory.mktemp("trust-definitions"))
    (tree / "services" / "means-test.yaml").write_text(MEANS_TEST, encoding="utf-8")
    # Every test starts an anonymous application from the same address: lift the per-address start limit.
    settings = dev_settings(tree, tmp_path_factory.mktemp("trust-data"), anonymous_starts_per_hour_per_ip=0)
    async with running_engine(temporal_env, settings) as (built, _client):
        yield built


@pytest.fixture(scope="module")
def api(engine: Engine) -> Api:
    return Api.isolated(create_app(engine.settings, engine), engine)


class Citizen:
    """One anonymous applicant of the means test, holding its resume token."""

    def __init__(self, api: Api, app: dict[str, Any], token: str) -> None:
        self.api, self.app, self.headers = api, app, {"X-Resume-Token": token}

    @classmethod
    async def start(cls, api: Api) -> Citizen:
        payload = (await api.data(START))["startApplication"]
        return cls(api, payload["application"], payload["resumeToken"])

    async def act(self, query: str, name: str, **variables: Any) -> dict[str, Any]:
        payload: dict[str, Any] = (await self.api.data(query, {"id": self.app["id"], **variables},
                                                       self.headers))[name]
        if payload["application"] is not None:
            self.app = payload["application"]
        return payload

    async def submit(self, step: str, answers: dict[str, Any]) -> dict[str, Any]:
        return await self.act(SUBMIT, "submitStep", step=step, answers=answers)

    async def codes(self, step: str, answers: dict[str, Any]) -> list[tuple[list[str], str]]:
        return [(e["field"], e["code"]) for e in (await self.submit(step, answers))["userErrors"]]


def _step(citizen: Citizen) -> str:
    return str(citizen.app["currentStep"]["id"])


# ---- numbers: one type per field in expressions ----

@pytest.mark.parametrize(("answers", "step"), [
    ({"cash": 100001, "household": 2, "why": "Sold a flat"}, "over-limit"),  # typed as a whole number
    ({"cash": 100000.5, "household": 2, "why": "Sold a flat"}, "over-limit"),  # typed with a fraction
    ({"cash": 100000, "shares": 0.5, "household": 2, "why": "Savings"}, "over-limit"),  # mixed
    ({"cash": 100000, "household": 2, "why": "Savings"}, "family"),  # at the limit
    ({"cash": 99999.5, "shares": 0, "household": 2, "why": "Savings"}, "family"),
])
async def test_whole_decimal_and_mixed_amounts_meet_the_same_assets_limit(api: Api, answers: dict[str, Any],
                                                                        step: str) -> None:
    citizen = await Citizen.start(api)
    assert (await citizen.submit("means", answers))["userErrors"] == []
    assert _step(citizen) == step
    assert citizen.app["status"] == "DRAFT"


@pytest.mark.parametrize(("answers", "errors"), [
    ({"cash": 50000, "household": 1}, [(["input", "answers", "why"], "REQUIRED")]),  # when: on a whole number
    ({"cash": 49999.4, "household": 1}, []),
    ({"cash": 90000, "household": 1, "why": "Savings"}, [(["input", "answers", "household"], "RULE")]),
    ({"cash": 90000, "shares": 0.5, "household": 2, "why": "Savings"}, []),
])
async def test_conditions_and_rules_do_arithmetic_on_whole_and_decimal_answers(
        api: Api, answers: dict[str, Any], errors: list[tuple[list[str], str]]) -> None:
    citizen = await Citizen.start(api)
    assert await citizen.codes("means", answers) == errors


async def test_an_expression_failing_at_run_time_is_reported_and_logged_never_false(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", MEANS_OK)
    with caplog.at_level(logging.ERROR):
        payload = await citizen.submit("family", {"members": [MEMBER], "adults": 0})  # 100 / 0
    assert payload["application"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["DEFINITION_ERROR"]
    assert "try again later" in payload["userErrors"][0]["message"].lower()
    logged = [r.getMessage() for r in caplog.records if "definition fault" in r.getMessage()]
    assert logged
    assert "means-test" in logged[0]
    assert "version 7" in logged[0]
    assert "100 / value > 0" in logged[0]
    assert _step(citizen) == "family"  # nothing was stored
    assert (await citizen.submit("family", {"members": [MEMBER], "adults": 1}))["userErrors"] == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", str(2**60)])
async def test_numbers_that_no_client_reads_back_exactly_are_refused_in_variables(api: Api, literal: str) -> None:
    citizen = await Citizen.start(api)
    body = json.dumps({"query": SUBMIT, "variables": {"id": citizen.app["id"], "step": "means",
                                                      "answers": {"household": 1}}})
    body = body.replace('"household": 1', f'"household": 1, "cash": {literal}')
    response = await api.request("POST", "/graphql", content=body,
                                 headers={**citizen.headers, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert (await api.data(GET, {"id": citizen.app["id"]}, citizen.headers))["application"]["answers"] == {}


async def test_a_number_beyond_2_53_written_in_the_query_is_a_user_error(api: Api) -> None:
    citizen = await Citizen.start(api)
    query = FRAGMENT + f"""mutation($id: ID!) {{ submitStep(input: {{applicationId: $id, stepId: "means",
      answers: {{cash: {2**60}, household: 1, why: "x"}}}}) {{
        application {{ ...A }} userErrors {{ field code }} }} }}"""
    payload = (await api.data(query, {"id": citizen.app["id"]}, citizen.headers))["submitStep"]
    assert payload["userErrors"][0] == {"field": ["input", "answers", "cash"], "code": "NUMBER_OUT_OF_RANGE"}


# ---- group entries: their own scope ----

@pytest.mark.parametrize(("members", "errors"), [
    ([{"memberName": "Siu Ming", "memberAge": 8}], []),  # a child: no income asked
    ([MEMBER, {"memberName": "Ah Po", "memberAge": 70}],
     [(["input", "answers", "members", "1", "memberIncome"], "REQUIRED")]),
    ([MEMBER, {"memberName": "Ah Po", "memberAge": 60, "memberIncome": 25000}],
     [(["input", "answers", "members", "1", "memberIncome"], "RULE")]),
    ([MEMBER, {"memberName": "Ah Po", "memberAge": 70, "memberIncome": 25000.5}], []),  # 65 or over
])
async def test_each_group_entry_is_checked_with_its_own_values(
        api: Api, members: list[dict[str, Any]], errors: list[tuple[list[str], str]]) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", MEANS_OK)
    assert await citizen.codes("family", {"members": members}) == errors


async def test_an_answer_to_a_member_field_that_does_not_apply_is_not_kept(api: Api) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", MEANS_OK)
    child = {"memberName": "Siu Ming", "memberAge": 8, "memberIncome": 100}
    assert (await citizen.submit("family", {"members": [child]}))["userErrors"] == []
    assert citizen.app["answers"]["members"] == [{"memberName": "Siu Ming", "memberAge": 8}]


# ---- text: blank, invisible and control characters ----

@pytest.mark.parametrize(("text", "code"), [
    ("   ", "REQUIRED"),
    ("\u200b" * 25, "REQUIRED"),
    ("\ufeff\u2060\u200d \u3000\u00a0", "REQUIRED"),
    ("Sold\x00 a flat", "INVALID_CHARACTERS"),
    ("Sold a\nflat", "INVALID_CHARACTERS"),  # a one-line text
    ("Sold\u202e a flat\x1b[31m", "INVALID_CHARACTERS"),
])
async def test_required_text_must_be_visible_and_free_of_control_characters(api: Api, text: str,
                                                                           code: str) -> None:
    citizen = await Citizen.start(api)
    assert await citizen.codes("means", {"cash": 60000, "household": 1, "why": text}) == [
        (["input", "answers", "why"], code)]


async def test_text_is_stored_without_invisible_edges_and_long_text_keeps_its_lines(api: Api) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", {"cash": 60000, "household": 1, "why": "\u200b Sold a flat\u00a0\ufeff"})
    assert citizen.app["answers"]["why"] == "Sold a flat"
    await citizen.submit("family", {"members": [MEMBER], "notes": "  Line one\r\nLine two\u200b "})
    assert citizen.app["answers"]["notes"] == "Line one\r\nLine two"


async def test_a_blank_optional_text_is_not_stored(api: Api) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", MEANS_OK)
    assert (await citizen.submit("family", {"members": [MEMBER], "notes": "\u200b\u200b "}))["userErrors"] == []
    assert "notes" not in citizen.app["answers"]


# ---- exits: a page the citizen can leave ----

async def test_a_citizen_at_an_exit_goes_back_and_changes_the_answer_that_led_there(api: Api) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", {"cash": 150000, "household": 2, "why": "Sold a flat"})
    assert (citizen.app["status"], _step(citizen)) == ("DRAFT", "over-limit")
    assert citizen.app["currentStep"]["type"] == "EXIT"
    assert citizen.app["exitMessage"] == "Your assets are above the limit of HK$100000."
    back = await citizen.act(GO_BACK, "goBack", step="means")
    assert back["userErrors"] == []
    assert (citizen.app["status"], _step(citizen), citizen.app["exitMessage"]) == ("DRAFT", "means", None)
    await citizen.submit("means", {"cash": 80000, "household": 2, "why": "Savings"})
    assert _step(citizen) == "family"


async def test_closing_an_application_at_an_exit_ends_it_as_not_eligible(api: Api) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", {"cash": 150000, "household": 2, "why": "Sold a flat"})
    closed = await citizen.act(WITHDRAW, "withdrawApplication")
    assert closed["userErrors"] == []
    assert citizen.app["status"] == "NOT_ELIGIBLE"
    assert citizen.app["exitMessage"] == "Your assets are above the limit of HK$100000."
    assert [e["code"] for e in (await citizen.act(GO_BACK, "goBack", step="means"))["userErrors"]] == [
        "APPLICATION_CLOSED"]


# ---- consents: declining a required one says why, and the ways on ----

async def test_declining_a_required_consent_is_refused_with_the_ways_on(api: Api) -> None:
    citizen = await Citizen.start(api)
    await citizen.submit("means", MEANS_OK)
    await citizen.submit("family", {"members": [MEMBER]})
    assert _step(citizen) == "terms"
    declined = await citizen.act(DECLINE, "declineConsent", step="terms")
    assert declined["application"] is None
    [error] = declined["userErrors"]
    assert (error["field"], error["code"]) == (["input", "stepId"], "CONSENT_REQUIRED")
    assert "go back" in error["message"]
    assert "withdraw" in error["message"]
    assert (await citizen.act(GO_BACK, "goBack", step="family"))["userErrors"] == []
    assert _step(citizen) == "family"
