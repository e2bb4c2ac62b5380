"""Getting a submission to its department exactly once, plus reference numbers.

The SQL inbox insert is keyed on the application id, so a retried activity finds its own row instead of
adding a second. The HTTP channel sends the same ``Idempotency-Key`` on every attempt; receivers dedupe on it.
"""

from __future__ import annotations

import base64
import io
import json
import ssl
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import aiohttp
import httpx
from opentelemetry import propagate, trace
from opentelemetry.util.http import redact_url
from sqlalchemy import Integer, String, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from yarl import URL

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database, InboxRow, ReferenceRow, utcnow
from onestop.engine.db.prepared import Executor, insert_for, prepared, table_of, write_alone
from onestop.engine.errors import EngineError


class DeliveryFailed(EngineError):
    """The department endpoint refused a submission for a reason a retry cannot fix (``DeliveryUnavailable``: one
    may). ``reason`` names the failure in a word for the security event."""

    code = "DELIVERY_FAILED"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(None, message)
        self.reason = reason


class DeliveryUnavailable(DeliveryFailed):
    """The department endpoint could not take a submission now (unreachable, timed out, busy or failing): the
    activity retries it."""

    code = "DELIVERY_UNAVAILABLE"


@dataclass(frozen=True)
class InboxItem:
    application_id: str
    department: str
    reference_number: str
    service_id: str
    jws: str
    received_at: datetime


async def allocate_reference(db: Database, application_id: str, department: str, year: int) -> str:
    """``TD-2026-000123``: issued once per application; asking again returns the same number."""
    for attempt in range(2):
        try:
            async with db.session() as session:
                return await reference_in(session, application_id, department, year)
        except IntegrityError:
            if attempt:
                raise
            # A concurrent attempt won the insert; the next pass reads its number.
    raise AssertionError("unreachable")


async def reference_in(session: Executor, application_id: str, department: str, year: int) -> str:
    """``allocate_reference`` in the caller's transaction; an ``IntegrityError`` when a concurrent attempt
    inserted the application's number first (the caller's next attempt reads it)."""
    params = {"application_id": application_id, "department": department, "year": year}
    row = (await session.execute(prepared(session, _new_reference), params)).first()
    if row is None:  # issued before (a retry): the number it was given
        row = (await session.execute(prepared(session, _reference), params)).first()
        if row is None:
            raise AssertionError(f"no reference row for {application_id} after its insert was refused")
    return f"{row.department}-{row.year}-{row.seq:06d}"


def _new_reference(dialect: str) -> Any:
    """The application's number, inserted unless it has one: ``INSERT ... SELECT ... WHERE NOT EXISTS`` rather than
    ``ON CONFLICT DO NOTHING``, which takes a number from PostgreSQL's sequence even when it inserts nothing."""
    references = table_of(ReferenceRow)
    application_id = bindparam("application_id", type_=String)
    issued = select(references.c.seq).where(references.c.application_id == application_id).exists()
    wanted = select(application_id, bindparam("department", type_=String), bindparam("year", type_=Integer))
    return (insert(references).from_select(["application_id", "department", "year"], wanted.where(~issued))
            .returning(references.c.seq, references.c.department, references.c.year))


def _reference(dialect: str) -> Any:
    references = ReferenceRow.__table__.c
    return select(references.seq, references.department, references.year).where(
        references.application_id == bindparam("application_id"))


def inbox_aad(application_id: str) -> str:
    """The associated data binding an inbox row's ciphertext to that row."""
    return f"department_inbox.jws|{application_id}"


async def deliver_to_inbox(
    db: Database, cipher: FieldCipher, *, application_id: str, department: str, reference_number: str,
    service_id: str, citizen_ref: str, jws: str,
) -> bool:
    """Insert into the department inbox; False when this application was already delivered.

    The JWS carries the citizen's answers in its (only base64url-encoded) payload, so it is stored encrypted
    with the data key, bound to its row like every other personal value.
    """
    inserted = await write_alone(db.engine, _deliver, {
        "application_id": application_id, "department": department, "reference_number": reference_number,
        "service_id": service_id, "citizen_ref": citizen_ref, "received_at": utcnow(),
        "jws": cipher.encrypt(jws.encode(), inbox_aad(application_id))})
    return bool(inserted)


def _deliver(dialect: str) -> Any:
    """Into the inbox unless the application is there already (a retry): the id back only when inserted."""
    inbox = InboxRow.__table__
    return (insert_for(dialect)(inbox).on_conflict_do_nothing(index_elements=[inbox.c.application_id])
            .returning(inbox.c.application_id))


_LARGE_BODY = 1 << 20
"""aiohttp's size from which a body should be written from a buffer rather than given as bytes."""

_WHOLE_POST = 3
"""A POST may take connecting, sending and reading time: three times ``DeliveryClient.timeout`` in all."""


class DeliveryClient:
    """The departments' submission endpoints over HTTP: kept-alive connections on one aiohttp session, opened with
    ``async with`` in the event loop that delivers.

    aiohttp rather than httpx: a POST costs about a tenth of the CPU (httpx's went mostly to httpcore's pool and
    anyio). What httpx did is kept: certificates checked against certifi's roots, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` and the proxies of ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` when
    ``trust_env`` (never ``.netrc`` credentials); ``timeout`` seconds to connect and for each read, three times it for
    the whole POST; no redirects followed. With a ``tracer_provider``, each POST is a client span and carries its
    context (``traceparent``) to the department.
    """

    def __init__(self, *, timeout: float = 30.0, trust_env: bool = True, ssl_context: ssl.SSLContext | None = None,
                 tracer_provider: trace.TracerProvider | None = None) -> None:
        self.timeout = timeout
        self.trust_env = trust_env
        self._ssl = ssl_context
        self._tracer = tracer_provider.get_tracer("onestop.delivery") if tracer_provider is not None else None
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[URL, tuple[URL | None, dict[str, str] | None]] = {}

    async def __aenter__(self) -> DeliveryClient:
        # The same trust store httpx had: an operator's CA bundle reaches both through SSL_CERT_FILE / SSL_CERT_DIR.
        context = self._ssl or httpx.create_ssl_context(trust_env=self.trust_env)
        self._session = aiohttp.ClientSession(
            # Connections idle 4 s at most (servers commonly close theirs at 5 s); at most 25 open to one
            # department, so a slow one cannot take every connection.
            connector=aiohttp.TCPConnector(ssl=context, keepalive_timeout=4, limit_per_host=25),
            # ``timeout`` to connect and for each read, and ``_WHOLE_POST`` times it for the whole POST: a
            # department that reads the body or answers a byte at a time cannot hold an attempt longer.
            timeout=aiohttp.ClientTimeout(total=self.timeout * _WHOLE_POST, connect=self.timeout,
                                          sock_read=self.timeout),
            # The environment is read here, once per endpoint (``_proxy``): aiohttp's own trust_env reads it and
            # ~/.netrc in a worker thread on every request.
            trust_env=False,
            # Nothing a department sets is sent back with another citizen's submission.
            cookie_jar=aiohttp.DummyCookieJar())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace_back: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; the answer's status. Its body is not read: a connection whose answer has fully arrived
        is kept for the next POST, any other is closed. Unreachable, timed out or cut off: ``DeliveryUnavailable``."""
        if self._tracer is None:
            return await self._post(url, body, headers)
        with self._tracer.start_as_current_span("POST", kind=trace.SpanKind.CLIENT, attributes={
                "http.request.method": "POST", "url.full": redact_url(url)}) as span:
            propagate.inject(headers)
            status = await self._post(url, body, headers)
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"HTTP {status}"))
            return status

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        if self._session is None:
            raise RuntimeError("DeliveryClient is not open: use it in `async with`")
        try:
            target = URL(url)
            proxy, proxy_headers = self._proxy(target)
        except ValueError as exc:
            raise _invalid_url() from exc
        for attempt in range(2):
            try:
                # A large body (documents attached) is written from a buffer, a chunk at a time, as aiohttp asks.
                data = body if len(body) < _LARGE_BODY else io.BytesIO(body)
                async with self._session.post(target, data=data, headers=headers, allow_redirects=False,
                                              proxy=proxy, proxy_headers=proxy_headers) as response:
                    if response.status == 407 and proxy is not None:
                        # Our forward proxy wants other credentials: mended in the proxy settings, which a worker
                        # reads as it starts, the retries go through.
                        raise DeliveryUnavailable("the proxy on the way to the department endpoint asked for "
                                                  "credentials (HTTP 407); check the proxy settings", "HTTP 407")
                    return response.status
            except aiohttp.InvalidURL as exc:
                raise _invalid_url() from exc
            except aiohttp.ServerDisconnectedError as exc:
                # A kept connection the department closed as the POST went out: once more on a new connection
                # (httpx looked before reusing one), only when an Idempotency-Key makes a second copy harmless.
                if attempt or "Idempotency-Key" not in headers:
                    raise _unavailable(exc) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _unavailable(exc) from exc
        raise AssertionError("unreachable")

    def _proxy(self, url: URL) -> tuple[URL | None, dict[str, str] | None]:
        """The proxy the environment names for ``url`` (``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY``, an
        ``https://`` proxy too; none when ``NO_PROXY`` covers its host, or its host and port), read as urllib reads
        it, once, at the first delivery to that endpoint; with the ``Proxy-Authorization`` its URL's credentials
        make (never ``.netrc``'s)."""
        found = self._proxies.get(url)
        if found is None:
            found = _environment_proxy(url) if self.trust_env else (None, None)
            self._proxies[url] = found
        return found


def _environment_proxy(url: URL) -> tuple[URL | None, dict[str, str] | None]:
    proxies = urllib.request.getproxies_environment()
    named = proxies.get(url.scheme) or proxies.get("all")
    if not named or url.host is None:
        return None, None
    if urllib.request.proxy_bypass(f"{url.host}:{url.port}" if url.port else url.host):
        return None, None
    try:
        proxy = URL(named if "://" in named else f"http://{named}")
    except ValueError:
        return None, None
    if proxy.user is None:
        return proxy, None
    credentials = aiohttp.encode_basic_auth(proxy.user, proxy.password or "")
    return proxy.with_user(None), {"Proxy-Authorization": credentials}


def _invalid_url() -> DeliveryFailed:
    # A retry cannot mend it, and the URL (which may hold credentials) stays out of the message.
    return DeliveryFailed("the department endpoint's URL is not valid; check its configuration", "InvalidURL")


def _unavailable(exc: BaseException) -> DeliveryUnavailable:
    what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc}"
    return DeliveryUnavailable(f"the department endpoint {what}", type(exc).__name__)


async def deliver_http(client: DeliveryClient, url: str, *, application_id: str, jws: str,
                       files: Mapping[str, bytes] | None = None) -> bool:
    """POST the signed submission; False when the endpoint had it already. Failures a retry may mend raise
    ``DeliveryUnavailable`` (the activity retries), a refusal ``DeliveryFailed``.

    ``files``: the attached documents' content by id (base64), each checkable against the SHA-256 in the JWS.
    """
    body: dict[str, object] = {"applicationId": application_id, "jws": jws}
    if files:
        body["documents"] = {key: base64.b64encode(content).decode() for key, content in files.items()}
    status = await client.post(url, json.dumps(body).encode(),
                               {"Content-Type": "application/json", "Idempotency-Key": application_id})
    if status in (200, 201, 202, 204):
        return True
    if status == 409:  # the receiver already has it under this idempotency key
        return False
    if status in (408, 425, 429) or status >= 500:
        raise DeliveryUnavailable(f"the department endpoint answered HTTP {status}", f"HTTP {status}")
    raise DeliveryFailed(f"department endpoint answered HTTP {status}; check its configuration", f"HTTP {status}")


async def inbox(db: Database, cipher: FieldCipher, department: str, *, limit: int = 100,
                offset: int = 0) -> Sequence[InboxItem]:
    """A department's received submissions, newest first, each with its signed JWS as delivered."""
    async with db.session() as session:
        rows = await session.scalars(
            select(InboxRow).where(InboxRow.department == department)
            .order_by(InboxRow.received_at.desc(), InboxRow.application_id).limit(limit).offset(offset)
        )
        return [InboxItem(r.application_id, r.department, r.reference_number, r.service_id,
                          cipher.decrypt(r.jws, inbox_aad(r.application_id)).decode(), r.received_at)
                for r in rows]
