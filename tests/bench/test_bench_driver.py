"""The applications benchmark's load driver (bench/applications.py ``Api``, ``sign_in``, ``drive`` and its HTTP
client, bench/citizen_http.py) against a real local HTTP server (uvicorn): what it sends (GraphQL as JSON, the
citizen's token, one kept-alive HTTP/1.1 connection), the answers it reads (chunked, compressed, closing), and that
every refusal or failure is a BenchError, in the driver's own process too."""

from __future__ import annotations

import asyncio
import gzip
import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@pytest.fixture(scope="module")
def bench(repo_root: Path) -> Iterator[ModuleType]:
    # The bench imports its sibling baseline.py by name, as when it runs as a script.
    sys.path.insert(0, str(repo_root / "bench"))
    try:
        yield importlib.import_module("applications")
    finally:
        sys.path.remove(str(repo_root / "bench"))


@pytest.fixture
def http(bench: ModuleType) -> Iterator[Any]:
    client = bench.Http()
    try:
        yield client
    finally:
        client.close()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int  # the client's port: the same one for requests over the same connection


@dataclass
class FakeApi:
    """The API's /graphql and the dev IdP's /dev-idp, answering what a test scripts."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    graphql: list[Response] = field(default_factory=list)  # the next answers to /graphql, in order
    token: Response | None = None  # the answer to /dev-idp/token (else a token named after the citizen)

    @property
    def idp(self) -> str:
        return f"{self.url}/dev-idp"


def application(step: str) -> dict[str, Any]:
    return {"id": "QXBwbGljYXRpb246d2YtMQ==", "status": "IN_PROGRESS", "referenceNumber": None,
            "currentStep": {"id": step, "type": "PREFILL", "title": "T", "fields": []}, "steps": []}


def answered(name: str, step: str = "your-details") -> JSONResponse:
    return JSONResponse({"data": {name: {"application": application(step), "userErrors": []}}})


@pytest.fixture
async def api(bench: ModuleType) -> AsyncIterator[FakeApi]:
    fake = FakeApi()

    async def record(request: Request) -> None:
        assert request.client is not None
        fake.seen.append(Seen(request.method, request.url.path, dict(request.headers), await request.body(),
                              request.client.port))

    async def graphql(request: Request) -> Response:
        await record(request)
        return fake.graphql.pop(0)

    async def citizens(request: Request) -> Response:
        await record(request)
        return JSONResponse({"citizens": [{"id": "c1", "faceSamples": {"match": "selfie-1"}}]})

    async def token(request: Request) -> Response:
        await record(request)
        return fake.token or JSONResponse({"access_token": f"token-{json.loads(fake.seen[-1].body)['citizen']}"})

    app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"]),
                            Route("/dev-idp/citizens", citizens), Route("/dev-idp/token", token, methods=["POST"])])
    server = bench._quiet_server_class()(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                        lifespan="off", access_log=False))
    serving = asyncio.create_task(server.serve())
    try:
        await bench._started(server, serving)
        fake.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        yield fake
    finally:
        server.should_exit = True
        await serving


async def test_each_mutation_is_posted_as_json_with_the_citizens_token_over_one_kept_alive_connection(
        bench: ModuleType, api: FakeApi, http: Any) -> None:
    api.graphql = [answered("startApplication"), answered("grantConsent", "applicant")]
    driver = bench.Api(http, api.url, api.idp)
    [citizen] = await bench.sign_in(driver, 1)
    started = await driver.mutation(bench.START, {"slug": bench.SERVICE, "cmid": "c-1"}, citizen.headers,
                                    "startApplication")
    granted = await driver.mutation(bench.GRANT, {"id": started["id"], "step": "your-details", "cmid": "c-2"},
                                    citizen.headers, "grantConsent")
    assert started["currentStep"]["id"] == "your-details"
    assert granted["currentStep"]["id"] == "applicant"
    assert citizen.login == "c1"
    assert citizen.selfie == "selfie-1"
    assert citizen.headers == {"Authorization": "Bearer token-c1", "Accept-Language": "en"}
    token, first, second = api.seen[1:]
    assert (token.method, token.path) == ("POST", "/dev-idp/token")
    assert json.loads(token.body) == {"citizen": "c1", "acr": bench.STANDARD}
    assert token.headers["content-type"] == "application/json"
    for seen, query, variables in ((first, bench.START, {"slug": bench.SERVICE, "cmid": "c-1"}),
                                   (second, bench.GRANT, {"id": started["id"], "step": "your-details",
                                                          "cmid": "c-2"})):
        assert (seen.method, seen.path) == ("POST", "/graphql")
        assert json.loads(seen.body) == {"query": query, "variables": variables}
        assert seen.headers["content-type"] == "application/json"
        assert seen.headers["authorization"] == "Bearer token-c1"
        assert seen.headers["accept-language"] == "en"
        assert seen.headers["connection"] == "keep-alive"
        assert seen.headers["accept-encoding"] == "gzip, deflate"
    # HTTP/1.1 keep-alive: the second mutation went over the first one's connection.
    assert first.port == second.port


async def test_chunked_compressed_and_closing_answers_are_read_and_a_closed_connection_is_replaced(
        bench: ModuleType, api: FakeApi, http: Any) -> None:
    whole = json.dumps({"data": {"submitStep": {"application": application("check"), "userErrors": []}}}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(whole), 100):
            yield whole[start:start + 100]

    api.graphql = [
        StreamingResponse(chunks(), media_type="application/json"),  # chunked transfer encoding
        Response(gzip.compress(whole), media_type="application/json", headers={"Content-Encoding": "gzip"}),
        Response(whole, media_type="application/json", headers={"Connection": "close"}),
        answered("submitStep", "send"),
    ]
    driver = bench.Api(http, api.url, api.idp)
    steps = [(await driver.mutation(bench.SUBMIT, {"id": "a", "step": "s", "answers": {}, "cmid": "c"}, {},
                                    "submitStep"))["currentStep"]["id"] for _ in range(4)]
    assert steps == ["check", "check", "check", "send"]
    ports = [seen.port for seen in api.seen]
    # The server closed the connection after its third answer: the fourth request went over a new one.
    assert ports[0] == ports[1] == ports[2] != ports[3]


async def test_a_server_that_is_not_there_or_does_not_answer_is_a_bench_error(
        bench: ModuleType, api: FakeApi, http: Any) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(bench.BenchError, match=r"^POST http://127\.0\.0\.1:\d+/graphql: ConnectionRefusedError"):
        await bench.Api(http, closed, api.idp).mutation(bench.START, {}, {}, "startApplication")

    async def never() -> AsyncIterator[bytes]:
        await asyncio.sleep(30)
        yield b""

    api.graphql = [StreamingResponse(never(), media_type="application/json")]
    http.timeout = 0.5
    with pytest.raises(bench.BenchError, match=r"^POST http://127\.0\.0\.1:\d+/graphql: TimeoutError"):
        await bench.Api(http, api.url, api.idp).mutation(bench.START, {}, {}, "startApplication")


@pytest.mark.parametrize(("answer", "message"), [
    (Response("upstream down", status_code=502), "startApplication: HTTP 502: upstream down"),
    (JSONResponse({"data": None, "errors": [{"message": "boom"}]}), "startApplication: [{'message': 'boom'}]"),
    (JSONResponse({"data": {"startApplication": {"application": None, "userErrors": [
        {"field": ["serviceSlug"], "message": "No such service.", "code": "NOT_FOUND"}]}}}),
     "startApplication: [{'field': ['serviceSlug'], 'message': 'No such service.', 'code': 'NOT_FOUND'}]"),
])
async def test_a_refusal_or_failure_of_a_mutation_is_a_bench_error_that_says_what_came_back(
        bench: ModuleType, api: FakeApi, http: Any, answer: Response, message: str) -> None:
    api.graphql = [answer]
    with pytest.raises(bench.BenchError) as raised:
        await bench.Api(http, api.url, api.idp).mutation(bench.START, {"slug": "x", "cmid": "c"}, {},
                                                        "startApplication")
    assert str(raised.value) == message


async def test_a_refused_token_is_a_bench_error(bench: ModuleType, api: FakeApi, http: Any) -> None:
    api.token = JSONResponse({"error": "unknown citizen"}, status_code=400)
    with pytest.raises(bench.BenchError, match=r'^dev IdP token: HTTP 400: {"error":"unknown citizen"}$'):
        await bench.sign_in(bench.Api(http, api.url, api.idp), 1)


async def test_the_driver_process_reports_an_error_from_the_api_as_a_bench_error(
        bench: ModuleType, api: FakeApi) -> None:
    # The driver runs in a process of its own (``--drive``): a refusal there ends its round and reaches the bench
    # as a BenchError naming the mutation and what the API answered.
    api.graphql = [JSONResponse({"data": {"startApplication": {"application": None, "userErrors": [
        {"field": None, "message": "Service closed.", "code": "SERVICE_CLOSED"}]}}})]
    driver = await bench.Driver.start(api.url, 1, api.idp)
    try:
        with pytest.raises(bench.BenchError, match=r"^load driver: startApplication: .*Service closed\.") as raised:
            await driver.round(1, bench.Samples())
    finally:
        await driver.stop()
    assert "SERVICE_CLOSED" in str(raised.value)
    assert [seen.path for seen in api.seen] == ["/dev-idp/citizens", "/dev-idp/token", "/graphql"]
    assert driver.process.returncode == 0
