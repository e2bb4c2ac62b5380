"""Limits and exposure: depth, aliases, tokens, cost, introspection, GraphiQL, body size, bad JSON, masking."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from graphql import parse
from graphql_api import Api, codes_of, errors_of, make_api

from onestop.engine.container import Engine
from onestop.graphql.app import create_app
from onestop.graphql.security import Limits, query_cost


@pytest.mark.parametrize("query", [
    "{ services { edges { node { department { code } } } } }",
    "{ services { edges { node { department { contact { phone } } } } } }",
    "query Q { ...F } fragment F on Query { services { edges { node { themes { id } } } } }",
])
async def test_depth_limit_refuses_with_query_too_complex(query: str, engine: Engine) -> None:
    # Our real types are shallow; a small limit makes the rule testable through the production factory.
    api = make_api(engine.settings, engine, limits=Limits(max_depth=3))
    try:
        ok = await api.post("{ services { edges { node { slug } } } }")  # depth 3: at the limit
        assert "errors" not in ok
        result = await api.post(query)
        assert codes_of(result) == ["QUERY_TOO_COMPLEX"]
        assert "depth" in errors_of(result)[0]["message"]
        assert result.get("data") is None
    finally:
        await api.client.aclose()


async def test_too_many_aliases_are_refused(api: Api) -> None:
    aliases = " ".join(f"a{i}: themes {{ id }}" for i in range(Limits().max_aliases + 1))
    result = await api.post("{ " + aliases + " }")
    assert codes_of(result) == ["QUERY_TOO_COMPLEX"]
    assert "aliases" in errors_of(result)[0]["message"]


async def test_aliases_within_the_limit_are_answered(api: Api) -> None:
    result = await api.data("{ a: themes { id } b: themes { id } }")
    assert result["a"] == result["b"]


async def test_a_repeated_document_is_parsed_and_validated_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from onestop.graphql import guard

    calls: list[str] = []

    def counted(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(guard, "parse", counted("parse", guard.parse))
    monkeypatch.setattr(guard, "validate_document", counted("validate", guard.validate_document))
    query = "{ themes { id } __typename }"
    await api.data(query)
    assert calls == ["parse", "validate"]
    assert (await api.data(query))["__typename"] == "Query"
    assert calls == ["parse", "validate"]


async def test_too_many_tokens_are_refused_while_parsing(api: Api) -> None:
    fields = " ".join("__typename" for _ in range(Limits().max_tokens + 10))
    result = await api.post("{ " + fields + " }")
    assert codes_of(result) == ["QUERY_TOO_COMPLEX"]
    assert "tokens" in errors_of(result)[0]["message"]


async def test_an_expensive_query_is_refused_with_its_cost(api: Api) -> None:
    query = "{ services(first: 100) { edges { node { " + " ".join(
        f"s{i}: steps {{ id type title }}" for i in range(20)) + " } } } }"
    result = await api.post(query)
    assert codes_of(result) == ["QUERY_TOO_COMPLEX"]
    error = errors_of(result)[0]
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"]


@pytest.mark.parametrize(("query", "variables"), [
    ("query($n: Int) { services(first: $n) { edges { node { %s } } } }", {"n": 100}),
    # GraphQL's Int takes a whole float, so the cost must read it as the page size it will be
    ("query($n: Int) { services(first: $n) { edges { node { %s } } } }", {"n": 100.0}),
    # a variable left out takes its default at execution, so it does in the cost too
    ("query($n: Int = 100) { services(first: $n) { edges { node { %s } } } }", None),
])
async def test_the_cost_reads_a_page_size_from_variables_as_execution_will(
        query: str, variables: dict[str, Any] | None, api: Api) -> None:
    fields = " ".join(f"s{i}: steps {{ id type title }}" for i in range(20))
    result = await api.post(query % fields, variables)
    assert codes_of(result) == ["QUERY_TOO_COMPLEX"], result
    assert query_cost(parse(query % fields), variables)["anonymous"] > Limits().max_cost


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_is_on_in_development(api: Api) -> None:
    assert (await api.data(INTROSPECTION)) == {"__schema": {"queryType": {"name": "Query"}}}


async def test_introspection_is_off_in_production(production_api: Api) -> None:
    result = await production_api.post(INTROSPECTION)
    assert set(codes_of(result)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in errors_of(result)[0]["message"].lower()
    assert "data" not in result or result["data"] is None


async def test_production_still_answers_typename(production_api: Api) -> None:
    assert (await production_api.data("{ __typename }")) == {"__typename": "Query"}


async def test_graphiql_is_served_on_get_in_development(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_in_production(production_api: Api) -> None:
    response = await production_api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code in {404, 405}
    assert "graphiql" not in response.text.lower()


async def test_queries_by_get_are_refused(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code in {400, 405}


async def test_a_body_over_the_cap_is_refused_with_413(api: Api) -> None:
    cap = api.engine.settings.max_body_bytes
    response = await api.client.post("/graphql", content=b'{"query": "' + b" " * cap + b'{ __typename }"}',
                                      headers={"content-type": "application/json"})
    assert response.status_code == 413
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert str(cap) in body["errors"][0]["message"]


async def test_a_chunked_body_over_the_cap_is_refused_with_413(api: Api) -> None:
    cap = api.engine.settings.max_body_bytes

    async def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(cap // 1024 + 2):
            yield b" " * 1024

    response = await api.client.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_a_body_under_the_cap_is_served(api: Api) -> None:
    padding = " " * (api.engine.settings.max_body_bytes // 2)
    response = await api.client.post("/graphql", json={"query": "{ __typename }" + padding})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("body", [b"{not json", b'{"query": ', b"\xff\xfe"])
async def test_malformed_json_is_400_with_a_message(api: Api, body: bytes) -> None:
    response = await api.client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert "not valid JSON" in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_a_body_without_a_query_is_400_with_a_message(api: Api) -> None:
    response = await api.client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert "query" in response.json()["errors"][0]["message"]


async def test_a_syntax_error_is_reported_with_its_place(api: Api) -> None:
    result = await api.post("{ services { ")
    assert codes_of(result) == ["GRAPHQL_PARSE_FAILED"]
    assert errors_of(result)[0]["locations"]


async def test_an_unknown_field_is_a_validation_error(api: Api) -> None:
    result = await api.post("{ servces { totalCount } }")
    assert codes_of(result) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "services" in errors_of(result)[0]["message"]  # graphql-core's "Did you mean"


class _ExplodingStore:
    """A catalogue store whose status read fails the way a bug would (fault injection)."""

    def __init__(self, real: object) -> None:
        self._real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    @property
    def problems(self) -> tuple[()]:
        raise RuntimeError("secret internal detail: /etc/onestop/key")


async def test_an_unexpected_failure_is_masked_and_logged(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    broken = replace(engine, catalogue=_ExplodingStore(engine.catalogue))  # type: ignore[arg-type]
    api = make_api(engine.settings, broken)
    try:
        with caplog.at_level(logging.ERROR, logger="onestop.graphql"):
            result = await api.post("{ catalogueStatus { version problems { code } } themes { id } }")
    finally:
        await api.client.aclose()
    assert codes_of(result) == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in str(result)
    assert result["data"] is None or result["data"].get("catalogueStatus") is None
    assert any("secret internal detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_healthz_and_readyz_answer(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["catalogue"] == api.engine.catalogue.catalogue.version


async def test_an_unknown_path_is_404(api: Api) -> None:
    assert (await api.client.get("/nope")).status_code == 404


async def test_dev_idp_is_not_mounted_in_production(production_api: Api) -> None:
    response = await production_api.client.get("/dev-idp/.well-known/openid-configuration")
    assert response.status_code == 404


async def test_client_mistakes_are_not_logged_as_server_errors(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        await api.post("{ services(first: 0) { totalCount } }")
        await api.post("{ nope }")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


STEP_ALIASES = " ".join(f"s{i}: steps {{ id type title }}" for i in range(20))
COSTLY = "query Costly($n: Int) { services(first: $n) { edges { node { " + STEP_ALIASES + " } } } }"


async def test_cost_counts_page_sizes_given_in_variables(api: Api) -> None:
    assert "errors" not in await api.post(COSTLY, {"n": 1})
    result = await api.post(COSTLY, {"n": 100})
    assert codes_of(result) == ["QUERY_TOO_COMPLEX"]


async def test_a_connection_without_first_is_costed_at_the_default_page(api: Api) -> None:


    with_default = query_cost(parse("{ services { edges { node { slug } } } }"))["anonymous"]
    explicit = query_cost(parse("{ services(first: 20) { edges { node { slug } } } }"))["anonymous"]
    assert with_default == explicit


async def _websocket(app: Any, subprotocol: str) -> tuple[asyncio.Queue[dict[str, Any]],
                                                          asyncio.Queue[dict[str, Any]], asyncio.Task[None]]:
    # A WebSocket client at the ASGI level (no WebSocket library is installed): the app sees a real handshake.
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/graphql",
             "raw_path": b"/graphql", "root_path": "", "query_string": b"", "server": ("onestop.test", 80),
             "client": ("127.0.0.1", 5000), "subprotocols": [subprotocol],
             "headers": [(b"host", b"onestop.test"), (b"sec-websocket-protocol", subprotocol.encode())]}
    await incoming.put({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope, incoming.get, outgoing.put))
    return incoming, outgoing, task


async def test_websockets_speak_graphql_transport_ws(engine: Engine) -> None:
    incoming, outgoing, task = await _websocket(create_app(engine.settings, engine), "graphql-transport-ws")
    accept = await asyncio.wait_for(outgoing.get(), 5)
    assert accept == {"type": "websocket.accept", "subprotocol": "graphql-transport-ws", "headers": []}
    await incoming.put({"type": "websocket.receive", "text": json.dumps({"type": "connection_init"})})
    ack = await asyncio.wait_for(outgoing.get(), 5)
    assert json.loads(ack["text"]) == {"type": "connection_ack"}
    await incoming.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 5)


async def test_the_legacy_graphql_ws_protocol_is_refused(engine: Engine) -> None:
    _incoming, outgoing, task = await _websocket(create_app(engine.settings, engine), "graphql-ws")
    messages = []
    while not messages or messages[-1]["type"] != "websocket.close":
        messages.append(await asyncio.wait_for(outgoing.get(), 5))
    assert messages[-1]["code"] == 4406
    await asyncio.wait_for(task, 5)


async def test_readyz_is_503_when_the_database_is_unreachable(private_engine: Engine, tmp_path: Path) -> None:
    from onestop.engine.db import Database

    healthy = make_api(private_engine.settings, private_engine)
    ready = await healthy.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    await healthy.client.aclose()

    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    api = make_api(private_engine.settings, replace(private_engine, database=unreachable))
    try:
        response = await api.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == "unavailable"
        assert (await api.client.get("/healthz")).status_code == 200  # alive, just not ready
    finally:
        await api.client.aclose()
        await unreachable.close()


@pytest.mark.parametrize("value", ["abc", 2**40, 1.5])
async def test_a_variable_of_the_wrong_type_is_bad_user_input_not_a_fault(api: Api, value: object) -> None:
    result = await api.post("query Q($f: Int) { services(first: $f) { totalCount } }", {"f": value})
    assert codes_of(result) == ["BAD_USER_INPUT"]
    assert "$f" in errors_of(result)[0]["message"]


@pytest.mark.parametrize(("body", "fragment"), [
    ({"query": "{ __typename }", "variables": [1, 2]}, "variables"),
    ({"query": 5}, "query"),
    ({"query": "{ __typename }", "operationName": "Nope"}, "Nope"),
    ([{"query": "{ __typename }"}], "Batching"),
])
async def test_malformed_requests_are_400_with_a_specific_message(api: Api, body: object, fragment: str) -> None:
    response = await api.client.post("/graphql", json=body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert fragment in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"


MISTAKES = {
    "field": ("{ viewr { id } }", None),
    "argument": ("{ services(frist: 1) { totalCount } }", None),
    "type": ("query($n: Itn) { services(first: $n) { totalCount } }", None),
    "input field": ("mutation($i: StartApplicationInput!) { startApplication(input: $i) { resumeToken } }",
                    {"i": {"serviceSlug": "x", "serviceSlg": "x"}}),
    "enum value": ("""mutation($s: ApplicationStatus!) { updateApplicationStatus(input: {applicationId: "x",
                   status: $s}) { userErrors { code } } }""", {"s": "APPROVD"}),
}


@pytest.mark.parametrize(("query", "variables"), MISTAKES.values(), ids=MISTAKES.keys())
async def test_production_errors_suggest_no_names(api: Api, production_api: Api, query: str,
                                                  variables: dict[str, Any] | None) -> None:
    assert "Did you mean" in errors_of(await api.post(query, variables))[0]["message"]  # development helps
    errors = errors_of(await production_api.post(query, variables))
    assert all("did you mean" not in error["message"].lower() for error in errors), errors
    assert {error["extensions"]["code"] for error in errors} <= {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}


@pytest.mark.parametrize("lengths", [[b"+5"], [b" 5 "], [b"1_0"], [b"-1"], [b"5", b"5"]])
async def test_a_content_length_that_is_not_one_plain_number_has_its_body_counted(lengths: list[bytes]) -> None:
    from onestop.graphql.security import BodySizeLimit

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    parts = [{"type": "http.request", "body": b"x" * 8, "more_body": True},
             {"type": "http.request", "body": b"x" * 8, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return parts.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/graphql", "headers": [(b"content-length", v) for v in lengths]}
    await BodySizeLimit(app, max_bytes=10)(scope, receive, send)
    assert sent[0]["status"] == 413
