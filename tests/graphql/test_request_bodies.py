"""Request bodies that used to crash before GraphQL: each is a 400 with the usual JSON error, and the
application it aimed at is exactly as it was. Real pieces: Temporal, a worker, the app over HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from graphql_api import EVERY_FIELD_ANSWERS, Api

from onestop.graphql.body import MAX_SAFE_INTEGER, MalformedJSON, decode, encode

FRAGMENT = """fragment A on Application { id status answers currentStep { id } timeline { status message } }"""
START = FRAGMENT + """mutation { startApplication(input: {serviceSlug: "every-field"}) {
  application { ...A } resumeToken userErrors { code } } }"""
SUBMIT = FRAGMENT + """mutation($id: ID!, $answers: JSON!, $cmid: String) {
  submitStep(input: {applicationId: $id, stepId: "form", answers: $answers, clientMutationId: $cmid}) {
    application { ...A } userErrors { field code } } }"""
GET = FRAGMENT + "query($id: ID!) { application(id: $id) { ...A } }"

def body_with(answers: str, cmid: str = "null", *, application_id: str = "x") -> bytes:
    """A submitStep body whose answers and clientMutationId are raw JSON text, as an attacker writes it."""
    text = json.dumps({"query": SUBMIT, "variables": {"id": application_id, "answers": "@@A@@", "cmid": "@@C@@"}})
    return text.replace('"@@A@@"', answers).replace('"@@C@@"', cmid).encode()


ATTACKS = {
    "a 5,000-digit integer": ('{"number": ' + "9" * 5000 + "}", "null", "too large"),
    "an integer beyond 2^53": ('{"number": ' + str(MAX_SAFE_INTEGER + 1) + "}", "null", "too large"),
    "a negative integer beyond 2^53": ('{"number": -' + str(MAX_SAFE_INTEGER + 1) + "}", "null", "too large"),
    "arrays nested 2,000 deep": ('{"group": ' + "[" * 2000 + "]" * 2000 + "}", "null", "nested too deeply"),
    "answers nested 900 deep": ('{"text": "x", "nested": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}",
                                "null", "nested too deeply"),
    "a lone surrogate in an answer": ('{"text": "\\ud800"}', "null", "surrogate"),
    "a lone surrogate in a key": ('{"\\udfff": "x"}', "null", "surrogate"),
    "a lone surrogate in clientMutationId": ("{}", '"retry-\\ud800"', "surrogate"),
    "NaN": ('{"number": NaN}', "null", "NaN is not JSON"),
    "Infinity": ('{"number": Infinity}', "null", "Infinity is not JSON"),
    "-Infinity": ('{"number": -Infinity}', "null", "-Infinity is not JSON"),
    "a float overflowing to infinity": ('{"number": 1e400}', "null", "finite"),
}


@pytest.fixture(scope="module")
async def draft(live_api: Api) -> dict[str, Any]:
    payload = (await live_api.data(START))["startApplication"]
    assert payload["userErrors"] == []
    return {"id": payload["application"]["id"], "headers": {"X-Resume-Token": payload["resumeToken"]}}


async def current(api: Api, draft: dict[str, Any]) -> dict[str, Any]:
    application: dict[str, Any] = (await api.data(GET, {"id": draft["id"]}, headers=draft["headers"]))["application"]
    return application


@pytest.mark.parametrize(("answers", "cmid", "says"), ATTACKS.values(), ids=ATTACKS.keys())
async def test_a_malformed_body_is_400_and_leaves_the_application_untouched(
        live_api: Api, draft: dict[str, Any], answers: str, cmid: str, says: str) -> None:
    before = await current(live_api, draft)
    response = await live_api.client.post(
        "/graphql", content=body_with(answers, cmid, application_id=draft["id"]),
        headers={"content-type": "application/json", **draft["headers"]})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert says in error["message"]
    assert await current(live_api, draft) == before


async def test_the_application_still_moves_on_after_the_attacks(live_api: Api, draft: dict[str, Any]) -> None:
    result = await live_api.data(SUBMIT, {"id": draft["id"], "answers": EVERY_FIELD_ANSWERS, "cmid": "ok-1"},
                                 headers=draft["headers"])
    payload = result["submitStep"]
    assert payload["userErrors"] == []
    assert payload["application"]["currentStep"]["id"] == "send"


async def test_a_body_that_is_not_utf8_is_400(live_api: Api) -> None:
    response = await live_api.client.post("/graphql", content=b'{"query": "{ __typename \xff }"}',
                                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("text", [str(MAX_SAFE_INTEGER), str(-MAX_SAFE_INTEGER), "1.5e300", '"\\ud83d\\ude00"'])
def test_values_a_browser_can_send_are_accepted(text: str) -> None:
    assert decode(text, max_depth=4) == json.loads(text)


def test_depth_is_counted_in_arrays_and_objects() -> None:
    assert decode('{"a": [{"b": 1}]}', max_depth=3) == {"a": [{"b": 1}]}
    with pytest.raises(MalformedJSON, match="at most 2 levels"):
        decode('{"a": [{"b": 1}]}', max_depth=2)


@pytest.mark.parametrize(("text", "says"), [
    ("123456789012345678901234567890", "too large"),  # orjson reads it as a float: read again, and refused
    ("[1, " + str(2**63) + "]", "too large"),
    ('{"a": 1e400}', "finite"),
    ('{"a": NaN}', "NaN is not JSON"),
    ('"\\udc00"', "surrogate"),
])
def test_what_the_strict_reader_refuses_is_refused_whichever_reader_reads_first(text: str, says: str) -> None:
    with pytest.raises(MalformedJSON, match=says):
        decode(text, max_depth=4)


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}',
                                  '{"q": "\\u00e9t\\u00e9 \\ud83d\\ude00", "n": [0, -0, 1.0, 2.5e-8]}',
                                  " [true, false, null, {}] ", '"\\u0000"', "1e30"])
def test_bodies_read_as_json_reads_them(text: str) -> None:
    value = decode(text.encode(), max_depth=8)
    assert value == json.loads(text)
    assert [type(v) for v in (value if isinstance(value, list) else [value])] == \
        [type(v) for v in (json.loads(text) if isinstance(value, list) else [json.loads(text)])]


@pytest.mark.parametrize("value", [{"a": "申請 é 😀", "b": [1, 2.5, None, True]}, {"big": 2**70}, [], "x"])
def test_answers_are_written_as_the_same_json_value(value: object) -> None:
    written = encode(value)
    assert isinstance(written, str)
    assert json.loads(written) == value


def test_a_value_json_cannot_write_is_still_refused_and_a_non_finite_float_is_written_as_null() -> None:
    @dataclasses.dataclass
    class Private:
        secret: str

    for value in (Private("x"), dt.date(2026, 1, 1), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        with pytest.raises(TypeError):
            encode({"computed": value})
    assert encode({"computed": float("nan"), "n": float("inf")}) == '{"computed":null,"n":null}'
