"""What operators see of the API: GET /metrics, request ids, GraphQL metrics with bounded labels, JSON log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql_api import Api, login
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from onestop.config import LogFormat
from onestop.engine.container import Engine
from onestop.engine.logs import handler_for
from onestop.graphql.app import create_app
from onestop.graphql.observability import RequestObservation


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def label_values(name: str, label: str) -> set[str]:
    return {sample.labels[label] for family in REGISTRY.collect() for sample in family.samples
            if sample.name == name and label in sample.labels}


async def test_metrics_are_served_in_the_prometheus_text_format(api: Api) -> None:
    await api.post("{ themes { id } }")
    response = await api.request("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"onestop_http_requests", "onestop_http_request_duration_seconds",
            "onestop_graphql_field_duration_seconds"} <= families


async def test_http_requests_are_counted_by_route_template_not_raw_path(api: Api) -> None:
    before = value("onestop_http_requests_total", method="GET", route="unmatched", status="404")
    response = await api.request("GET", "/citizens/K305518(3)/secret")
    assert response.status_code == 404
    assert value("onestop_http_requests_total", method="GET", route="unmatched", status="404") == before + 1
    assert not any("K305518" in route for route in label_values("onestop_http_requests_total", "route"))


async def test_a_request_id_is_generated_and_echoed(api: Api) -> None:
    first = await api.request("POST", "/graphql", json={"query": "{ themes { id } }"})
    second = await api.request("POST", "/graphql", json={"query": "{ themes { id } }"})
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(("given", "echoed"), [("req-1234abcd", True), ("x" * 65, False),
                                               ("has space in it", False), ("<script>alert(1)</script>", False)])
async def test_a_well_formed_caller_request_id_is_kept(api: Api, given: str, echoed: bool) -> None:
    response = await api.request("GET", "/healthz", headers={"X-Request-ID": given})
    assert (response.headers["x-request-id"] == given) is echoed


async def test_latency_is_labelled_by_the_schema_field_never_the_client_operation_name(api: Api) -> None:
    before = value("onestop_graphql_field_duration_seconds_count", type="query", field="themes")
    await api.data("query HkidK305518 { mine: themes { id } }")
    assert value("onestop_graphql_field_duration_seconds_count", type="query", field="themes") == before + 1
    labels = label_values("onestop_graphql_field_duration_seconds_count", "field")
    assert "HkidK305518" not in labels
    assert "mine" not in labels


BAD_TOKEN = {"Authorization": "Bearer not-a-token"}


@pytest.mark.parametrize(("query", "headers", "code"), [
    ("{ themes { id ", None, "GRAPHQL_PARSE_FAILED"),
    ("{ noSuchField }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("{ viewer { sub } }", BAD_TOKEN, "UNAUTHENTICATED"),
])
async def test_graphql_errors_are_counted_by_extensions_code(api: Api, query: str, headers: dict[str, str] | None,
                                                              code: str) -> None:
    before = value("onestop_graphql_errors_total", code=code)
    result = await api.post(query, headers=headers)
    assert [error["extensions"]["code"] for error in result["errors"]] == [code]
    assert value("onestop_graphql_errors_total", code=code) == before + 1


async def test_user_errors_are_counted_by_mutation_and_code(seed_api: Api) -> None:
    headers = await login(seed_api, citizen="lee-mei-ling")
    before = value("onestop_graphql_user_errors_total", field="updateProfile", code="EMPTY_INPUT")
    payload = (await seed_api.data("""mutation($input: UpdateProfileInput!) {
        updateProfile(input: $input) { userErrors { code } } }""", {"input": {}}, headers))["updateProfile"]
    assert payload["userErrors"][0]["code"] == "EMPTY_INPUT"
    assert value("onestop_graphql_user_errors_total", field="updateProfile", code="EMPTY_INPUT") == before + 1


async def test_rate_limit_refusals_are_counted(engine: Engine) -> None:
    app = create_app(engine.settings.model_copy(update={"rate_limit_per_minute": 1}), engine, clock=lambda: 5.0)
    before = value("onestop_rate_limited_total", route="/graphql")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop.test") as http:
        statuses = [(await http.post("/graphql", json={"query": "{ themes { id } }"})).status_code
                    for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert value("onestop_rate_limited_total", route="/graphql") == before + 2


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = handler_for(LogFormat.JSON)
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger = logging.getLogger("onestop.test.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_every_log_line_carries_the_request_id_it_was_logged_under(json_lines: io.StringIO) -> None:
    async def endpoint(_: Request) -> PlainTextResponse:
        logging.getLogger("onestop.test.observability").info("handled")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/x", endpoint)])
    wrapped: Any = RequestObservation(app, routes=["/x"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t") as http:
        response = await http.get("/x")
    line = json.loads(json_lines.getvalue().strip())
    assert line["message"] == "handled"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["trace_id"] == "-"  # tracing is off
    assert {"time", "level", "logger", "operation"} <= set(line)
