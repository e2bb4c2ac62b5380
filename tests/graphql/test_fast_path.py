"""The view's own path for a POSTed JSON operation answers exactly as strawberry's generic ``run`` does: same
status, headers and body, for answers, errors and refusals alike (the app over HTTP, development and production)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql_api import Api

from onestop.graphql.context import GraphQLView

JSON = {"content-type": "application/json"}
SERVICES = "query A { __typename } query B($n: Int) { services(first: $n) { edges { node { slug } } } }"

CASES: dict[str, tuple[bytes | str, dict[str, str]]] = {
    "a query": ('{"query": "{ __typename }"}', JSON),
    "an operation by name, with variables": (
        '{"query": "' + SERVICES + '", "operationName": "B", "variables": {"n": 2}}', JSON),
    "no operation of that name": ('{"query": "' + SERVICES + '", "operationName": "C"}', JSON),
    "two operations, none named": ('{"query": "' + SERVICES + '"}', JSON),
    "a field the schema lacks (with a suggestion)": ('{"query": "{ servics { totalCount } }"}', JSON),
    "a syntax error": ('{"query": "{"}', JSON),
    "introspection": ('{"query": "{ __schema { queryType { name } } }"}', JSON),
    "a mutation without login": ('{"query": "mutation { startApplication(input: {serviceSlug: \\"nope\\"}) '
                                 '{ userErrors { code } } }"}', JSON),
    "a bad bearer token": ('{"query": "{ viewer { __typename } }"}', {**JSON, "authorization": "Bearer not.a.jwt"}),
    "a missing token": ('{"query": "{ viewer { __typename } }"}', JSON),
    "a charset parameter": ('{"query": "{ __typename }"}', {"content-type": "application/json; charset=utf-8"}),
    "an upper-case content type": ('{"query": "{ __typename }"}', {"content-type": "Application/JSON"}),
    "no query": ('{"variables": {}}', JSON),
    "a null query": ('{"query": null}', JSON),
    "a query that is not a string": ('{"query": 1}', JSON),
    "variables that are not an object": ('{"query": "{ __typename }", "variables": [1]}', JSON),
    "extensions that are not an object": ('{"query": "{ __typename }", "extensions": 1}', JSON),
    "a batch": ('[{"query": "{ __typename }"}]', JSON),
    "malformed JSON": ('{"query": ', JSON),
    "JSON nested too deeply": ('{"query": "{ __typename }", "variables": ' + '{"a": ' * 100 + "1" + "}" * 101,
                               JSON),
    "a lone surrogate": ('{"query": "{ __typename } \\ud800"}', JSON),
    "not JSON at all": ("query=%7B__typename%7D", {"content-type": "application/x-www-form-urlencoded"}),
    "a streaming Accept header": ('{"query": "{ __typename }"}', {**JSON, "accept": "multipart/mixed"}),
}


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in {"x-request-id", "date"})
    return response.status_code, headers, response.content


async def _both(api: Api, monkeypatch: pytest.MonkeyPatch, body: bytes | str,
                headers: dict[str, str]) -> tuple[Any, Any]:
    fast = await api.client.post("/graphql", content=body, headers=headers)
    with monkeypatch.context() as patched:
        async def nothing(_self: GraphQLView, _request: Any) -> None:
            return None

        patched.setattr(GraphQLView, "_run_json_post", nothing)
        generic = await api.client.post("/graphql", content=body, headers=headers)
    return _comparable(fast), _comparable(generic)


@pytest.mark.parametrize("case", CASES)
async def test_the_fast_path_answers_as_strawberry_does(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                       case: str) -> None:
    fast, generic = await _both(api, monkeypatch, *CASES[case])
    assert fast == generic


@pytest.mark.parametrize("case", ["a field the schema lacks (with a suggestion)", "introspection",
                                  "a bad bearer token", "malformed JSON", "a batch"])
async def test_the_fast_path_answers_as_strawberry_does_in_production(production_api: Api,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     case: str) -> None:
    fast, generic = await _both(production_api, monkeypatch, *CASES[case])
    assert fast == generic


async def test_a_plain_json_operation_never_reaches_strawberrys_run(api: Api,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("strawberry's run was called")

    monkeypatch.setattr(GraphQLView, "run", refuse)
    answer = await api.client.post("/graphql", json={"query": "{ __typename }"})
    assert answer.json() == {"data": {"__typename": "Query"}}
    errors = await api.client.post("/graphql", json={"query": "{ servics }"})
    assert errors.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    with pytest.raises(AssertionError, match="strawberry's run"):
        await api.client.post("/graphql", json=[{"query": "{ __typename }"}])


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON"])  # the second goes to strawberry
@pytest.mark.parametrize("body", ['"{ __typename }"', "1", "null", "true", '[1, "{ __typename }"]'])
async def test_a_json_body_that_is_not_an_object_is_a_bad_request(api: Api, body: str, content_type: str) -> None:
    # Strawberry's run answered these with a 500 (it calls .get on whatever the body decodes to).
    answer = await api.client.post("/graphql", content=body, headers={"content-type": content_type})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    message = answer.json()["errors"][0]["message"]
    assert "No GraphQL query" in message if content_type == "application/json" else "content type" in message
