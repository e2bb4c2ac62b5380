"""Fuzzing through GraphQL against a running workflow: random JSON at submitStep for a form with one field of
every type, and schemathesis' generated operations for the rest of the schema.

Whatever a client sends, the answer is never a fault: no HTTP 5xx, no INTERNAL_SERVER_ERROR, every error has a
code; refusals are 400s, errors or userErrors, and the workflow keeps answering. Bounded (max_examples) for CI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from graphql import NameNode, ObjectFieldNode, ValueNode, build_schema, introspection_from_schema
from graphql_api import EVERY_FIELD_ANSWERS, Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestop.graphql.body import MAX_SAFE_INTEGER

FRAGMENT = "fragment A on Application { id status answers currentStep { id } }"
START = FRAGMENT + """mutation { startApplication(input: {serviceSlug: "every-field"}) {
  application { ...A } resumeToken userErrors { code } } }"""
SUBMIT = FRAGMENT + """mutation($id: ID!, $step: String!, $answers: JSON!, $cmid: String) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers, clientMutationId: $cmid}) {
    application { ...A } userErrors { field message code } } }"""
GO_BACK = FRAGMENT + """mutation($id: ID!) {
  goBack(input: {applicationId: $id, stepId: "form"}) { application { ...A } userErrors { code } } }"""
GET = FRAGMENT + "query($id: ID!) { application(id: $id) { ...A } }"

# Any text, unpaired surrogates included (json.dumps writes them as \ud800 escapes, as a hostile client would).
text = st.text(st.characters(exclude_categories=()), max_size=60)
# Values that broke something once, or sit on a boundary, so a short run meets them.
nasty = st.sampled_from(["\ud800", "x\udfff", "\x00", "", " ", "9" * 400, 2**53, -(2**53), 2**64, 10**30,
                         1e308, -0.0, 0.1, "2026-02-30", "A123456(3)", "+85291234567", [], {}])
scalars = (nasty | st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | text)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(text, inner, max_size=4), max_leaves=20)
# Near-misses of real answers reach the validators more often than arbitrary values do.
field_ids = st.sampled_from(list(EVERY_FIELD_ANSWERS))
field_values = st.sampled_from(list(EVERY_FIELD_ANSWERS.values())) | json_values
answers = (json_values
           | st.dictionaries(field_ids, field_values, max_size=len(EVERY_FIELD_ANSWERS))
           | st.builds(lambda valid, extra: {**valid, **extra}, st.just(EVERY_FIELD_ANSWERS),
                       st.dictionaries(field_ids, json_values, max_size=2)))


@pytest.fixture(scope="module")
async def draft(live_api: Api) -> dict[str, Any]:
    payload = (await live_api.data(START))["startApplication"]
    assert payload["userErrors"] == []
    return {"id": payload["application"]["id"], "headers": {"X-Resume-Token": payload["resumeToken"]}}


def assert_no_fault(status: int, body: dict[str, Any]) -> None:
    assert status < 500, body
    codes = {error.get("extensions", {}).get("code") for error in body.get("errors") or ()}
    assert "INTERNAL_SERVER_ERROR" not in codes, body
    assert None not in codes, body


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=answers, step=st.sampled_from(["form", "form", "form", "send", "nowhere"]),
       cmid=st.none() | text)
async def test_random_answers_never_fault_and_the_workflow_keeps_answering(
        live_api: Api, draft: dict[str, Any], answers: Any, step: str, cmid: str | None) -> None:
    variables = {"id": draft["id"], "step": step, "answers": answers, "cmid": cmid}
    response = await live_api.client.post("/graphql", content=json.dumps({"query": SUBMIT, "variables": variables}),
                                          headers={"content-type": "application/json", **draft["headers"]})
    assert_no_fault(response.status_code, response.json())

    application = (await live_api.data(GET, {"id": draft["id"]}, headers=draft["headers"]))["application"]
    assert application["status"] == "DRAFT"
    if application["currentStep"]["id"] != "form":  # a valid answer moved it on: back, for the next example
        moved = (await live_api.data(GO_BACK, {"id": draft["id"]}, headers=draft["headers"]))["goBack"]
        assert moved["userErrors"] == []


async def test_after_the_fuzzing_valid_answers_still_move_the_application_on(
        live_api: Api, draft: dict[str, Any]) -> None:
    result = await live_api.data(SUBMIT, {"id": draft["id"], "step": "form", "answers": EVERY_FIELD_ANSWERS},
                                 headers=draft["headers"])
    assert result["submitStep"]["userErrors"] == []
    assert result["submitStep"]["application"]["currentStep"]["id"] == "send"


def _literal(value: Any) -> ValueNode:
    """A JSON value as a GraphQL literal, for the JSON scalar (answers) that schemathesis cannot generate."""
    nodes = schemathesis.graphql.nodes
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_literal(item) for item in value])
    return nodes.Object([ObjectFieldNode(name=NameNode(value=key), value=_literal(item))
                         for key, item in value.items()])


graphql_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True) | field_ids
literal_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(graphql_names, inner, max_size=3), max_leaves=10)
schemathesis.graphql.scalar("JSON", literal_values.map(_literal))


def _operations() -> st.SearchStrategy[Any]:
    # From the committed SDL (a test keeps it in sync with the code), so no introspection is needed.
    sdl = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8")
    schema = schemathesis.graphql.from_dict({"data": introspection_from_schema(build_schema(sdl))})
    return st.one_of([result.ok().as_strategy() for result in schema.get_all_operations()])


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(case=_operations())
async def test_generated_operations_on_every_root_field_never_fault(live_api: Api, draft: dict[str, Any],
                                                                    case: Any) -> None:
    # json.dumps escapes unpaired surrogates (as \ud800) where httpx's own encoder would fail on them.
    response = await live_api.client.post("/graphql", content=json.dumps({"query": case.body}),
                                          headers={"content-type": "application/json", **draft["headers"]})
    assert_no_fault(response.status_code, response.json())
