"""The applications benchmark's load driver (bench/applications.py ``Api``, ``sign_in``, ``citizen_application``,
``drive``, on libcurl's multi interface through pycurl: ``HttpClient``) against a real local HTTP server (uvicorn):
what it sends (GraphQL as JSON, the citizen's token, one kept-alive HTTP/1.1 connection), the checks it makes on the
answers, and that every refusal or failure is a BenchError, in the driver's own process too."""

from __future__ import annotations

import asyncio
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
async def http(bench: ModuleType) -> AsyncIterator[Any]:
    async with bench.client_session(4) as session:
        yield session


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int  # the client's port: the same one for requests over the same connection
    version: str  # HTTP version


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


def application(step: str | None, status: str = "IN_PROGRESS", reference: str | None = None) -> dict[str, Any]:
    current = None if step is None else {"id": step, "type": "FORM", "title": "T", "fields": []}
    return {"id": "QXBwbGljYXRpb246d2YtMQ==", "status": status, "referenceNumber": reference,  # Application:wf-1
            "currentStep": current, "steps": []}


def answered(name: str, step: str | None = "your-details", status: str = "IN_PROGRESS",
             reference: str | None = None) -> JSONResponse:
    return JSONResponse({"data": {name: {"application": application(step, status, reference), "userErrors": []}}})


def full_application(submitted: JSONResponse) -> list[Response]:
    """The API's answers to one citizen's application, the last one ``submitted``."""
    return [answered("startApplication"), answered("grantConsent", "applicant"), answered("submitStep", "preferences"),
            answered("submitStep", "share"), answered("grantConsent", "verify-face"),
            answered("completeStepUp", "check"), answered("submitStep", "send"), submitted]


@pytest.fixture
async def api(bench: ModuleType) -> AsyncIterator[FakeApi]:
    fake = FakeApi()

    async def record(request: Request) -> None:
        assert request.client is not None
        fake.seen.append(Seen(request.method, request.url.path, dict(request.headers), await request.body(),
                              request.client.port, request.scope["http_version"]))

    async def graphql(request: Request) -> Response:
        await record(request)
        return fake.graphql.pop(0)

    async def citizens(request: Request) -> Response:
        await record(request)
        return JSONResponse({"citizens": [{"id": "c1", "faceSamples": {"match": "selfie-1"}}]})

    async def token(request: Request) -> Response:
        await record(request)
        asked = json.loads(fake.seen[-1].body)
        kind = "token" if asked["acr"] == bench.STANDARD else "face-token"
        return fake.token or JSONResponse({"access_token": f"{kind}-{asked['citizen']}"})

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
    listed, token, first, second = api.seen
    assert (listed.method, listed.path) == ("GET", "/dev-idp/citizens")
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
        assert seen.headers["accept"] == "*/*"
        assert seen.headers["user-agent"] == "onestop-bench"
        assert seen.headers["host"] == api.url.removeprefix("http://")
        assert seen.version == "1.1"
    # HTTP/1.1 keep-alive: the second mutation went over the first one's connection.
    assert first.port == second.port


async def test_a_server_that_is_not_there_or_does_not_answer_in_time_is_a_bench_error(
        bench: ModuleType, api: FakeApi, http: Any) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(bench.BenchError,
                       match=r"^POST http://127\.0\.0\.1:\d+/graphql: could not connect: .+ \(ECONNREFUSED\)$"):
        await bench.Api(http, closed, api.idp).mutation(bench.START, {}, {}, "startApplication")

    async def never() -> AsyncIterator[bytes]:
        await asyncio.sleep(30)
        yield b""

    api.graphql = [StreamingResponse(never(), media_type="application/json")]
    async with bench.client_session(1, timeout=0.5) as impatient:
        with pytest.raises(bench.BenchError,
                           match=r"^POST http://127\.0\.0\.1:\d+/graphql: TimeoutError: no answer within 0\.5s$"):
            await bench.Api(impatient, api.url, api.idp).mutation(bench.START, {}, {}, "startApplication")


async def test_requests_beyond_the_connections_wait_for_one_and_a_compressed_answer_is_read(
        bench: ModuleType, api: FakeApi) -> None:
    import gzip

    body = json.dumps({"data": {"startApplication": {"application": application("your-details"),
                                                     "userErrors": []}}}).encode()
    api.graphql = [answered("startApplication"), answered("startApplication"),
                   Response(gzip.compress(body), media_type="application/json", headers={"Content-Encoding": "gzip"})]
    async with bench.client_session(1) as one:
        driver = bench.Api(one, api.url, api.idp)
        answers = await asyncio.gather(*(driver.mutation(bench.START, {}, {}, "startApplication") for _ in range(3)))
    assert [answer["currentStep"]["id"] for answer in answers] == ["your-details"] * 3
    assert len({seen.port for seen in api.seen}) == 1  # one connection, kept alive, for the three in turn


async def test_no_proxy_from_the_environment_is_used(bench: ModuleType, api: FakeApi,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    proxied: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxied.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    address = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, address)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    try:
        async with bench.client_session(1) as http:
            [citizen] = await bench.sign_in(bench.Api(http, api.url, api.idp), 1)
    finally:
        server.close()
        await server.wait_closed()
    assert citizen.login == "c1"
    assert proxied == []


def _peer(fd: int) -> Any:
    """The address a socket is connected to; None for a descriptor that is not a connected socket."""
    import os
    import socket

    try:
        with socket.socket(fileno=os.dup(fd)) as connected:
            return connected.getpeername()
    except OSError:
        return None


async def test_an_idle_connection_the_server_closes_is_let_go_and_the_next_request_opens_another(
        bench: ModuleType, http: Any) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # whatever the client's keep-alive says

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    driver = bench.Api(http, url, f"{url}/dev-idp")
    try:
        assert await driver.request("GET", f"{url}/first", {}) == (200, b"{}")
        await asyncio.sleep(0.2)
        # The idle connection's close was seen, and its reader taken off the loop (else it would fire again and again).
        assert [fd for fd in http.reading if _peer(fd) == server.sockets[0].getsockname()] == []
        assert await driver.request("GET", f"{url}/second", {}) == (200, b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert len(connections) == 2


async def test_closing_the_client_closes_its_connections(bench: ModuleType) -> None:
    ended = asyncio.Event()

    async def answer_then_wait(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.read()  # until the client closes the connection
        ended.set()
        writer.close()

    server = await asyncio.start_server(answer_then_wait, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with bench.client_session(1) as http:
            assert await bench.Api(http, url, url).request("GET", f"{url}/", {}) == (200, b"{}")
            assert not ended.is_set()  # kept alive
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_cancelled_request_is_withdrawn_and_the_client_goes_on(bench: ModuleType, api: FakeApi) -> None:
    async def never() -> AsyncIterator[bytes]:
        await asyncio.sleep(30)
        yield b""

    api.graphql = [StreamingResponse(never(), media_type="application/json"), answered("startApplication")]
    async with bench.client_session(1) as http:
        driver = bench.Api(http, api.url, api.idp)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(driver.mutation(bench.START, {}, {}, "startApplication"), 0.3)
        assert not http.pending
        started = await driver.mutation(bench.START, {}, {}, "startApplication")
    assert started["currentStep"]["id"] == "your-details"


async def test_connections_closed_under_other_handles_leave_the_client_working(bench: ModuleType) -> None:
    # libcurl shares its connections among the easy handles; one closed (a request cancelled on it, or answered with
    # "Connection: close") belongs to whichever handle opened it. Its descriptor number then comes back for a new
    # connection, which must be watched afresh: nothing of the closed one may stay on the loop.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /hang"):
                    await asyncio.sleep(30)
                close = head.startswith(b"GET /close")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                             + (b"Connection: close\r\n" if close else b"") + b"\r\n{}")
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with bench.client_session(4, timeout=5) as http:
            driver = bench.Api(http, url, url)

            async def three(path: str) -> None:
                answers = await asyncio.gather(*(driver.request("GET", f"{url}/{path}", {}) for _ in range(3)))
                assert answers == [(200, b"{}")] * 3

            await three("a")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(driver.request("GET", f"{url}/hang", {}), 0.3)
            await three("b")
            await three("close")
            await three("c")
            assert not http.pending
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                                    b"not HTTP at all\r\n\r\n"],
                         ids=["closed without an answer", "cut short", "not HTTP"])
async def test_an_answer_that_cannot_be_read_is_a_bench_error(bench: ModuleType, http: Any, answer: bytes) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(bench.BenchError, match=r"^POST http://127\.0\.0\.1:\d+/graphql: no readable answer: "):
            await bench.Api(http, url, f"{url}/dev-idp").mutation(bench.START, {}, {}, "startApplication")
    finally:
        server.close()
        await server.wait_closed()


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


async def test_a_full_application_goes_step_by_step_over_one_kept_alive_connection_to_its_reference_number(
        bench: ModuleType, api: FakeApi, http: Any) -> None:
    api.graphql = full_application(answered("submitStep", None, "SUBMITTED", "TD-2026-000001"))
    driver = bench.Api(http, api.url, api.idp)
    [citizen] = await bench.sign_in(driver, 1)
    samples = bench.Samples()
    assert await bench.citizen_application(driver, citizen, samples) == "wf-1"
    assert set(samples.latencies) == set(bench.ACTION_NAMES)
    mutations = [seen for seen in api.seen if seen.path == "/graphql"]
    assert [json.loads(seen.body)["variables"].get("step") for seen in mutations] == [
        None, "your-details", "applicant", "preferences", "share", "verify-face", "check", "send"]
    face = next(seen for seen in api.seen[2:] if seen.path == "/dev-idp/token")
    assert json.loads(face.body) == {"citizen": "c1", "acr": bench.FACE, "selfie": "selfie-1",
                                     "binding": "wf-1:verify-face"}
    # The step-up is completed with the face token, every other step with the citizen's own.
    assert [seen.headers["authorization"] for seen in mutations] == (
        ["Bearer token-c1"] * 5 + ["Bearer face-token-c1"] + ["Bearer token-c1"] * 2)
    assert len({seen.port for seen in mutations}) == 1


@pytest.mark.parametrize(("answers", "message"), [
    ([answered("startApplication", "applicant")],
     "expected step 'your-details', the application is at 'applicant' (IN_PROGRESS)"),
    (full_application(answered("submitStep", None, "SUBMITTED")),
     "submit left the application SUBMITTED without a reference number"),
    (full_application(answered("submitStep", None, "IN_PROGRESS", "TD-2026-000001")),
     "submit left the application IN_PROGRESS without a reference number"),
], ids=["unexpected step", "no reference number", "not submitted"])
async def test_an_application_that_does_not_go_as_expected_is_a_bench_error(
        bench: ModuleType, api: FakeApi, http: Any, answers: list[Response], message: str) -> None:
    api.graphql = answers
    driver = bench.Api(http, api.url, api.idp)
    [citizen] = await bench.sign_in(driver, 1)
    with pytest.raises(bench.BenchError) as raised:
        await bench.citizen_application(driver, citizen, bench.Samples())
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
