"""Delivery to departments: reference numbers issued once, the inbox never duplicates, HTTP outcomes."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import itertools
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from yarl import URL

from onestop.engine.applications import delivery
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.signing import Signer
from onestop.engine.db import Database
from onestop.engine.errors import DecryptionFailed

DATA_KEY = bytes(range(32))
CIPHER = FieldCipher(KeyRing.single(DATA_KEY))
SIGNER = Signer(bytes(range(32, 64)))
ANSWERS = {"name": "CHAN Tai Man", "hkid": "A123456(3)", "phone": "91234567"}


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own proxy settings do not reach these tests; those about proxies set their own."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def db(database: Database) -> Database:
    """A fresh SQLite file, then the session's PostgreSQL schema (the ``database`` fixture runs both)."""
    return database


async def test_a_reference_number_is_issued_once_per_application(db: Database) -> None:
    first = await delivery.allocate_reference(db, "app-1", "TD", 2026)
    again = await delivery.allocate_reference(db, "app-1", "TD", 2026)
    other = await delivery.allocate_reference(db, "app-2", "IMMD", 2026)
    assert first == again == "TD-2026-000001"
    assert other == "IMMD-2026-000002"


async def test_concurrent_allocations_for_one_application_agree(db: Database) -> None:
    numbers = await asyncio.gather(*(delivery.allocate_reference(db, "app-x", "TD", 2026) for _ in range(5)))
    assert len(set(numbers)) == 1


async def test_the_inbox_keeps_one_copy_of_a_redelivered_submission(db: Database) -> None:
    args = {"application_id": "app-1", "department": "TD", "reference_number": "TD-2026-000001",
            "service_id": "s", "citizen_ref": "ref", "jws": "a.b.c"}
    assert await delivery.deliver_to_inbox(db, CIPHER, **args) is True
    assert await delivery.deliver_to_inbox(db, CIPHER, **args) is False
    assert [i.application_id for i in await delivery.inbox(db, CIPHER, "TD")] == ["app-1"]
    assert await delivery.inbox(db, CIPHER, "IMMD") == []


def _signed_submission(application_id: str) -> str:
    return SIGNER.sign_submission(
        application_id=application_id, service_slug="renew-driving-licence", service_hash="h" * 64,
        department="TD", citizen_ref="ref", answers=ANSWERS, consents=[], assurance="urn:onestop:acr:standard",
        auth_time=None, submitted_at=datetime(2026, 11, 27, tzinfo=UTC), reference_number="TD-2026-000001",
    ).jws


async def _deliver(db: Database, cipher: FieldCipher, application_id: str = "app-1") -> str:
    jws = _signed_submission(application_id)
    await delivery.deliver_to_inbox(db, cipher, application_id=application_id, department="TD",
                                    reference_number=f"TD-{application_id}", service_id="renew-driving-licence",
                                    citizen_ref="ref", jws=jws)
    return jws


async def test_the_inbox_stores_a_submission_encrypted_and_gives_back_the_verifiable_jws(db: Database) -> None:
    jws = await _deliver(db, CIPHER)
    async with db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT jws FROM department_inbox"))).scalar_one()
    payload = base64.urlsafe_b64decode(jws.split(".")[1] + "==").decode()
    assert "CHAN Tai Man" in payload  # what a plain JWS would have exposed
    assert stored.startswith("v1.")
    assert jws.split(".")[1] not in stored
    [item] = await delivery.inbox(db, CIPHER, "TD")
    assert item.jws == jws
    assert SIGNER.verify_submission(item.jws)["answers"] == ANSWERS


async def test_the_inbox_still_reads_submissions_stored_before_a_data_key_rotation(db: Database) -> None:
    jws = await _deliver(db, CIPHER)
    rotated = FieldCipher(KeyRing.single(bytes(range(64, 96)), previous=(DATA_KEY,)))
    assert [i.jws for i in await delivery.inbox(db, rotated, "TD")] == [jws]
    with pytest.raises(DecryptionFailed, match="ONESTOP_DATA_KEY_PREVIOUS"):
        await delivery.inbox(db, FieldCipher(KeyRing.single(bytes(range(64, 96)))), "TD")


async def test_an_inbox_ciphertext_moved_to_another_submission_does_not_decrypt(db: Database) -> None:
    await _deliver(db, CIPHER, "app-1")
    await _deliver(db, CIPHER, "app-2")
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE department_inbox SET jws = (SELECT jws FROM department_inbox "
                                "WHERE application_id = 'app-1') WHERE application_id = 'app-2'"))
    with pytest.raises(DecryptionFailed):
        await delivery.inbox(db, CIPHER, "TD")


@dataclass
class Department:
    """A department's submission endpoint on a real local port: what it received, and from which connections."""

    url: str
    requests: list[Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: set[object] = field(default_factory=set)


Answer = Callable[[Request], Awaitable[Response]]


@asynccontextmanager
async def department(answer: Answer, *, certificate: tuple[Path, Path] | None = None) -> AsyncIterator[Department]:
    endpoint = Department("")

    async def submissions(request: Request) -> Response:
        endpoint.requests.append(request)
        endpoint.bodies.append(await request.body())
        endpoint.connections.add(request.client)
        return await answer(request)

    async def elsewhere(request: Request) -> Response:
        raise AssertionError("a redirect was followed")

    app = Starlette(routes=[Route("/submissions", submissions, methods=["POST"]),
                            Route("/elsewhere", elsewhere, methods=["GET", "POST"])])
    tls = {"ssl_certfile": str(certificate[0]), "ssl_keyfile": str(certificate[1])} if certificate else {}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off", **tls))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    endpoint.url = f"{'https' if certificate else 'http'}://127.0.0.1:{port}/submissions"
    try:
        yield endpoint
    finally:
        server.should_exit = True
        await task


def answering(status: int, headers: dict[str, str] | None = None) -> Answer:
    async def answer(request: Request) -> Response:
        return Response(status_code=status, headers=headers)

    return answer


async def _deliver_to(url: str, client: DeliveryClient, application_id: str = "app-1") -> bool:
    return await delivery.deliver_http(client, url, application_id=application_id, jws="a.b.c")


@pytest.mark.parametrize(("status", "fresh"), [(200, True), (202, True), (204, True), (409, False)])
async def test_accepted_and_already_received_answers_complete_delivery(status: int, fresh: bool) -> None:
    async with department(answering(status)) as endpoint, DeliveryClient(timeout=5) as client:
        assert await _deliver_to(endpoint.url, client) is fresh
    [request] = endpoint.requests
    assert request.headers["idempotency-key"] == "app-1"
    assert request.headers["content-type"] == "application/json"
    assert "traceparent" not in request.headers  # tracing is off
    assert json.loads(endpoint.bodies[0]) == {"applicationId": "app-1", "jws": "a.b.c"}


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503])
async def test_temporary_failures_raise_so_the_activity_retries(status: int) -> None:
    async with department(answering(status)) as endpoint, DeliveryClient(timeout=5) as client:
        with pytest.raises(delivery.DeliveryUnavailable) as unavailable:
            await _deliver_to(endpoint.url, client)
    assert unavailable.value.code == "DELIVERY_UNAVAILABLE"
    assert unavailable.value.reason == f"HTTP {status}"
    assert f"HTTP {status}" in unavailable.value.message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 407, 422])  # 407 from the department itself: no proxy of ours
async def test_a_permanent_refusal_is_a_delivery_failure(status: int) -> None:
    async with department(answering(status)) as endpoint, DeliveryClient(timeout=5) as client:
        with pytest.raises(delivery.DeliveryFailed) as failed:
            await _deliver_to(endpoint.url, client)
    assert not isinstance(failed.value, delivery.DeliveryUnavailable)
    assert failed.value.code == "DELIVERY_FAILED"
    assert failed.value.reason == f"HTTP {status}"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_fails_the_delivery_for_good(status: int) -> None:
    async with department(answering(status, {"Location": "/elsewhere"})) as endpoint, \
            DeliveryClient(timeout=5) as client:
        with pytest.raises(delivery.DeliveryFailed, match=f"HTTP {status}; check its configuration") as failed:
            await _deliver_to(endpoint.url, client)
    assert not isinstance(failed.value, delivery.DeliveryUnavailable)
    assert len(endpoint.requests) == 1  # and /elsewhere was never asked


async def test_a_department_that_is_down_is_unavailable_not_refused() -> None:
    async with department(answering(202)) as endpoint:
        url = endpoint.url  # its port is closed once the department has stopped
    async with DeliveryClient(timeout=5) as client:
        with pytest.raises(delivery.DeliveryUnavailable, match="the department endpoint failed") as unavailable:
            await _deliver_to(url, client)
    assert unavailable.value.reason == "ClientConnectorError"


async def test_a_department_that_does_not_answer_in_time_is_unavailable() -> None:
    released = asyncio.Event()

    async def hang(request: Request) -> Response:
        await released.wait()  # until the test ends, so the department's shutdown does not wait for it
        return Response(status_code=202)

    async with department(hang) as endpoint, DeliveryClient(timeout=0.3) as client:
        began = asyncio.get_running_loop().time()
        try:
            with pytest.raises(delivery.DeliveryUnavailable, match="timed out"):
                await _deliver_to(endpoint.url, client)
        finally:
            released.set()
        assert asyncio.get_running_loop().time() - began < 3


async def _drip_server(answer: bool) -> asyncio.Server:
    """A department that takes the request a byte at a time and answers (``answer``) a byte at a time, for ever."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if answer:
                await reader.readuntil(b"\r\n\r\n")
                for byte in itertools.cycle(b"HTTP/1.1 202 Accepted\r\nX-Slow: "):
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)
            for _ in range(1000):  # about 100 s: far longer than any delivery may take
                if not await reader.read(1):
                    break
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize("answer", [True, False], ids=["answers a byte at a time", "reads the body a byte at a time"])
async def test_a_department_that_drips_cannot_hold_a_delivery_past_three_timeouts(answer: bool) -> None:
    server = await _drip_server(answer)
    port = server.sockets[0].getsockname()[1]
    try:
        async with DeliveryClient(timeout=0.5) as client:
            began = asyncio.get_running_loop().time()
            with pytest.raises(delivery.DeliveryUnavailable, match="timed out"):
                await delivery.deliver_http(client, f"http://127.0.0.1:{port}/submissions", application_id="app-1",
                                            jws="a.b.c", files={"doc": bytes(8 << 20)})
            assert asyncio.get_running_loop().time() - began < 3  # 1.5 s in all, with room for a loaded machine
    finally:
        server.close()
        await server.wait_closed()


async def test_an_endpoint_url_that_is_not_valid_fails_for_good_without_its_text() -> None:
    async with DeliveryClient(timeout=5) as client:
        with pytest.raises(delivery.DeliveryFailed) as failed:
            await _deliver_to("https://someone:secret@[::1/submissions", client)
    assert not isinstance(failed.value, delivery.DeliveryUnavailable)
    assert "secret" not in str(failed.value)
    assert failed.value.reason == "InvalidURL"


async def test_the_answer_body_is_not_read_so_an_endless_one_cannot_hold_a_delivery() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    async def answer(request: Request) -> Response:
        return StreamingResponse(endless(), status_code=202)

    async with department(answer) as endpoint, DeliveryClient(timeout=5) as client:
        assert await asyncio.wait_for(_deliver_to(endpoint.url, client), 5) is True
        # The cut-off connection is not reused: the next delivery goes on a new one.
        assert await asyncio.wait_for(_deliver_to(endpoint.url, client, "app-2"), 5) is True
    assert len(endpoint.connections) == 2


async def test_deliveries_share_a_kept_connection() -> None:
    async with department(answering(202, {"Content-Type": "application/json"})) as endpoint, \
            DeliveryClient(timeout=5) as client:
        for number in range(3):
            assert await _deliver_to(endpoint.url, client, f"app-{number}") is True
    assert [r.headers["idempotency-key"] for r in endpoint.requests] == ["app-0", "app-1", "app-2"]
    assert len(endpoint.connections) == 1


async def test_a_kept_connection_the_department_closed_as_a_delivery_went_out_is_not_a_failure() -> None:
    # A keep-alive race: the department closes an idle connection just as the next POST goes out on it. Here it
    # answers the first request on each connection and closes the connection on the second without answering.
    accepted: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            body = await reader.readexactly(length)
            if _ == 1:
                break
            accepted.append(body)
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with DeliveryClient(timeout=5) as client:
            assert await _deliver_to(f"http://127.0.0.1:{port}/submissions", client, "app-1") is True
            assert await _deliver_to(f"http://127.0.0.1:{port}/submissions", client, "app-2") is True
    finally:
        server.close()
        await server.wait_closed()
    assert [json.loads(b)["applicationId"] for b in accepted] == ["app-1", "app-2"]


async def test_a_post_without_an_idempotency_key_is_not_sent_twice_when_the_connection_is_cut() -> None:
    # The same keep-alive race as above, for a POST no key makes safe to repeat: the department may have taken it
    # before closing, so it is reported unavailable (the caller decides) instead of being sent again.
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            requests.append(head)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if number == 1:
                break
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/submissions"
    try:
        async with DeliveryClient(timeout=5) as client:
            assert await client.post(url, b"{}", {"Content-Type": "application/json"}) == 202
            with pytest.raises(delivery.DeliveryUnavailable) as unavailable:
                await client.post(url, b"{}", {"Content-Type": "application/json"})
    finally:
        server.close()
        await server.wait_closed()
    assert unavailable.value.reason == "ServerDisconnectedError"
    assert len(requests) == 2  # the cut one was not sent again on a new connection


async def test_a_proxy_asking_for_credentials_is_unavailable_so_the_delivery_is_retried_once_settings_are_mended(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with department(answering(407, {"Proxy-Authenticate": "Basic"})) as proxy, \
            department(answering(202)) as endpoint:
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.url.removesuffix("/submissions"))
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.setenv(name, "")
        async with DeliveryClient(timeout=5, trust_env=True) as client:
            with pytest.raises(delivery.DeliveryUnavailable, match="check the proxy settings") as unavailable:
                await _deliver_to(endpoint.url, client)
    assert unavailable.value.reason == "HTTP 407"
    assert len(proxy.requests) == 1
    assert endpoint.requests == []


async def test_a_traced_delivery_is_a_client_span_whose_context_the_department_receives() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))

    async def answer(request: Request) -> Response:
        return Response(status_code=202 if request.headers["idempotency-key"] == "app-1" else 503)

    async with department(answer) as endpoint, DeliveryClient(timeout=5, tracer_provider=provider) as client:
        with provider.get_tracer("test").start_as_current_span("RunActivity:onestop.deliver_submission"):
            assert await _deliver_to(endpoint.url, client, "app-1") is True
            with pytest.raises(delivery.DeliveryUnavailable):
                await _deliver_to(endpoint.url, client, "app-2")
    provider.shutdown()
    [activity] = [s for s in spans.get_finished_spans() if s.name.startswith("RunActivity")]
    posts = [s for s in spans.get_finished_spans() if s.name == "POST"]
    assert activity.context is not None
    assert [(p.attributes or {}).get("http.response.status_code") for p in posts] == [202, 503]
    assert [p.status.status_code for p in posts] == [trace.StatusCode.UNSET, trace.StatusCode.ERROR]
    for post, request in zip(posts, endpoint.requests, strict=True):
        assert post.kind is trace.SpanKind.CLIENT
        assert (post.attributes or {})["url.full"] == endpoint.url
        assert post.parent is not None
        assert post.parent.span_id == activity.context.span_id
        assert post.context is not None
        context = f"00-{post.context.trace_id:032x}-{post.context.span_id:016x}-"
        assert request.headers["traceparent"].startswith(context)


def _certificates(directory: Path) -> tuple[Path, tuple[Path, Path]]:
    """A certificate authority's certificate, and a certificate for 127.0.0.1 it signed with that one's key."""
    now = datetime.now(UTC)

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
              authority: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True))
        if authority:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = issue("onestop test authority", ca_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                                              "onestop test authority")]),
               ca_key, True)
    leaf = issue("127.0.0.1", key, ca.subject, ca_key, False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths[0], (paths[1], paths[2])


async def test_a_department_certificate_no_trusted_authority_signed_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    _, certificate = _certificates(tmp_path)
    async with department(answering(202), certificate=certificate) as endpoint, DeliveryClient(timeout=5) as client:
        with pytest.raises(delivery.DeliveryUnavailable) as unavailable:
            await _deliver_to(endpoint.url, client)
    assert unavailable.value.reason == "ClientConnectorCertificateError"
    assert endpoint.requests == []


@pytest.mark.parametrize("trust_env", [True, False])
async def test_an_authority_named_by_ssl_cert_file_is_trusted_when_the_environment_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_env: bool) -> None:
    authority, certificate = _certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))  # as httpx read it: an operator's own CA bundle
    async with department(answering(202), certificate=certificate) as endpoint, \
            DeliveryClient(timeout=5, trust_env=trust_env) as client:
        if trust_env:
            assert await _deliver_to(endpoint.url, client) is True
        else:
            with pytest.raises(delivery.DeliveryUnavailable):
                await _deliver_to(endpoint.url, client)
    assert len(endpoint.requests) == (1 if trust_env else 0)


async def test_a_given_ssl_context_decides_which_authorities_are_trusted(tmp_path: Path) -> None:
    authority, certificate = _certificates(tmp_path)
    async with department(answering(202), certificate=certificate) as endpoint, \
            DeliveryClient(timeout=5, ssl_context=ssl.create_default_context(cafile=authority)) as client:
        assert await _deliver_to(endpoint.url, client) is True


@pytest.mark.parametrize(("trust_env", "no_proxy", "through"), [(True, "", "proxy"), (True, "127.0.0.1", "department"),
                                                                (False, "", "department")])
async def test_the_proxy_the_environment_names_is_used_when_the_environment_is_trusted(
        monkeypatch: pytest.MonkeyPatch, trust_env: bool, no_proxy: str, through: str) -> None:
    async with department(answering(202)) as proxy, department(answering(202)) as endpoint:
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.url.removesuffix("/submissions"))
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.setenv(name, no_proxy)
        async with DeliveryClient(timeout=5, trust_env=trust_env) as client:
            assert await _deliver_to(endpoint.url, client) is True
    received = proxy if through == "proxy" else endpoint
    [request] = received.requests
    assert request.headers["host"] == endpoint.url.split("/")[2]  # the proxy forwards to the department's host
    assert (proxy if through != "proxy" else endpoint).requests == []


async def test_no_proxy_naming_the_department_with_its_port_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async with department(answering(202)) as proxy, department(answering(202)) as endpoint:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.removesuffix("/submissions"))
        monkeypatch.setenv("NO_PROXY", endpoint.url.split("/")[2])  # 127.0.0.1:port
        async with DeliveryClient(timeout=5) as client:
            assert await _deliver_to(endpoint.url, client) is True
    assert proxy.requests == []
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize(("variables", "url", "expected"), [
    ({"HTTPS_PROXY": "https://someone:s%40cret@proxy.example:8443"}, "https://dept.example/submissions",
     ("https://proxy.example:8443", ("someone", "s@cret"))),
    ({"ALL_PROXY": "proxy.example:3128"}, "https://dept.example/submissions", ("http://proxy.example:3128", None)),
    ({"HTTP_PROXY": "http://proxy.example:3128"}, "https://dept.example/submissions", (None, None)),
    ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": ".example"}, "https://dept.example/submissions",
     (None, None)),
    ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "dept.example:8443"},
     "https://dept.example:443/submissions", ("http://proxy.example:3128", None)),
], ids=["an https proxy with credentials in its URL", "ALL_PROXY", "another scheme's proxy", "a NO_PROXY domain",
        "NO_PROXY naming another port"])
def test_the_proxy_for_an_endpoint_is_read_from_the_environment_as_urllib_reads_it(
        monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], url: str,
        expected: tuple[str | None, tuple[str, str] | None]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    proxy, headers = DeliveryClient()._proxy(URL(url))
    credentials = expected[1]
    assert (str(proxy) if proxy else None) == expected[0]
    assert headers == ({"Proxy-Authorization": aiohttp.encode_basic_auth(*credentials)} if credentials else None)


def test_netrc_credentials_never_go_to_a_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine proxy.example login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert DeliveryClient()._proxy(URL("https://dept.example/submissions")) == (URL("http://proxy.example:3128"), None)


async def test_netrc_credentials_are_not_sent_to_a_department(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with department(answering(202)) as endpoint, DeliveryClient(timeout=5) as client:
        assert await _deliver_to(endpoint.url, client) is True
    assert "authorization" not in endpoint.requests[0].headers
