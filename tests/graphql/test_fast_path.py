"""The view's own path for a POSTed JSON operation answers exactly as strawberry's generic ``run`` does: same
status, headers and body, the same metrics and the same operation label for the logs, for answers, errors and
refusals alike (the app over HTTP, development and production)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql_api import Api, login

from onestop.engine import GRAPHQL_ERRORS, GRAPHQL_FIELD_LATENCY, GRAPHQL_USER_ERRORS
from onestop.graphql import guard
from onestop.graphql.context import GraphQLView
from onestop.graphql.guard import Guard, direct_execute
from onestop.graphql.observability import GraphQLTracing
from onestop.graphql.schema import build_schema

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
    "an empty query": ('{"query": ""}', JSON),
    "a subscription": ('{"query": "subscription { __typename }"}', JSON),
    "an operation name that is not a string": ('{"query": "{ __typename }", "operationName": 1}', JSON),
    "a variable of the wrong type": ('{"query": "' + SERVICES + '", "operationName": "B", "variables": {"n": "x"}}',
                                     JSON),
    "a missing required variable": ('{"query": "query($id: ID!) { node(id: $id) { id } }"}', JSON),
    "an unknown variable": ('{"query": "{ __typename }", "variables": {"zzz": 1}}', JSON),
    "too expensive": ('{"query": "{ services(first: 100) { edges { node { ' +
                      " ".join(f"s{i}: steps {{ id type title }}" for i in range(20)) + ' } } } }"}', JSON),
    "too expensive by a variable": ('{"query": "query($n: Int) { services(first: $n) { edges { node { ' +
                                    " ".join(f"s{i}: steps {{ id type title }}" for i in range(20)) +
                                    ' } } } }", "variables": {"n": 100}}', JSON),
    "too many aliases": ('{"query": "{ ' + " ".join(f"a{i}: __typename" for i in range(31)) + ' }"}', JSON),
    "too many tokens": ('{"query": "{ ' + " ".join(["__typename"] * 2100) + ' }"}', JSON),
    "answers in Chinese": ('{"query": "{ services(first: 3) { edges { node { title summary } } } }"}',
                           {**JSON, "accept-language": "zh-HK"}),
    "extensions": ('{"query": "{ __typename }", "extensions": {"a": [1, 2]}}', JSON),
}
REVOKE = "mutation Revoke($id: ID!) { revokeConsent(input: {consentId: $id}) { consent { id } userErrors { field " \
         "message code } } }"
# Signed in: a mutation's userErrors, and what a citizen may read.
SIGNED_IN: dict[str, dict[str, Any]] = {
    "a mutation's userErrors": {"query": REVOKE, "variables": {"id": "00000000-0000-0000-0000-000000000000"}},
    "an input object's bad field": {"query": REVOKE, "variables": {"id": {"a": 1}}},
    "the viewer": {"query": "{ viewer { sub consents { id } } }"},
    "two mutation fields (two rate-limit tokens more)": {
        "query": "mutation { a: revokeConsent(input: {consentId: \"x\"}) { userErrors { code } } "
                 "b: revokeConsent(input: {consentId: \"y\"}) { userErrors { code } } }"},
    "a mutation in a named operation among others": {"query": REVOKE + " query Other { __typename }",
                                                    "operationName": "Revoke",
                                                    "variables": {"id": "x"}},
}


def _counted() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The GraphQL metrics' current values (error counts by code, userErrors, root-field timings' counts)."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for metric in (GRAPHQL_ERRORS, GRAPHQL_USER_ERRORS, GRAPHQL_FIELD_LATENCY)
            for family in metric.collect() for sample in family.samples
            if sample.name.endswith(("_total", "_count"))}


def _delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)}


@pytest.fixture
def labels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operation labels the request named for the logs (both paths name it through the guard's module)."""
    named: list[str] = []
    original = guard.name_operation

    def record(label: str) -> None:
        named.append(label)
        original(label)

    monkeypatch.setattr(guard, "name_operation", record)
    return named


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in {"x-request-id", "date"})
    return response.status_code, headers, response.content


async def _both(api: Api, monkeypatch: pytest.MonkeyPatch, body: bytes | str,
                headers: dict[str, str], labels: list[str] | None = None) -> tuple[Any, Any]:
    counted = _counted()
    fast = await api.client.post("/graphql", content=body, headers=headers)
    fast_metrics, fast_labels = _delta(counted, counted := _counted()), list(labels or ())
    with monkeypatch.context() as patched:
        async def nothing(_self: GraphQLView, _request: Any) -> None:
            return None

        patched.setattr(GraphQLView, "_run_json_post", nothing)
        generic = await api.client.post("/graphql", content=body, headers=headers)
    generic_metrics, generic_labels = _delta(counted, _counted()), list(labels or ())[len(fast_labels):]
    return ((_comparable(fast), fast_metrics, fast_labels),
            (_comparable(generic), generic_metrics, generic_labels))


@pytest.mark.parametrize("case", CASES)
async def test_the_fast_path_answers_as_strawberry_does(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                       labels: list[str], case: str) -> None:
    fast, generic = await _both(api, monkeypatch, *CASES[case], labels=labels)
    assert fast == generic


@pytest.mark.parametrize("case", ["a field the schema lacks (with a suggestion)", "introspection",
                                  "a bad bearer token", "malformed JSON", "a batch", "a variable of the wrong type",
                                  "too many aliases", "a syntax error"])
async def test_the_fast_path_answers_as_strawberry_does_in_production(production_api: Api,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     labels: list[str], case: str) -> None:
    fast, generic = await _both(production_api, monkeypatch, *CASES[case], labels=labels)
    assert fast == generic


@pytest.mark.parametrize("case", SIGNED_IN)
async def test_the_fast_path_answers_a_signed_in_citizen_as_strawberry_does(seed_api: Api,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           labels: list[str], case: str) -> None:
    headers = {**JSON, **await login(seed_api, citizen="wong-ka-fai")}
    body = httpx.Request("POST", "/", json=SIGNED_IN[case]).content
    fast, generic = await _both(seed_api, monkeypatch, body, headers, labels=labels)
    assert fast == generic
    assert fast[2], "the operation was named for the logs"


def test_the_guard_runs_in_line_only_as_the_schemas_one_extension() -> None:
    schema = build_schema(production=False)
    assert [type(extension) for extension in schema.extensions] == [Guard]
    assert direct_execute(schema) is not None
    schema.extensions = (GraphQLTracing, *schema.extensions)  # a tracing process: strawberry runs both
    assert direct_execute(schema) is None


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
