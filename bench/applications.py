"""Applications benchmark: N concurrent citizens complete a full application through the GraphQL API over HTTP,
against a bare Temporal workflow (the same number of updates and one activity per application) in the same run.

Run: ``.venv/bin/python bench/applications.py [--citizens N] [--rounds R] [--persist] [--json PATH]
[--loop asyncio|uvloop]`` (defaults: 16 citizens, 5 rounds, Temporal state in memory; ``--persist`` keeps it in a
SQLite file as ``onestop serve`` does; ``--json`` also writes every figure to PATH; ``--loop`` the event loop both
sides share, by default the one ``onestop serve`` runs on).

Everything is started here and stopped at the end: a real Temporal dev server, a fresh SQLite data dir and a
definitions tree in a temporary directory (the seed taxonomy, departments, option lists and dev citizens plus one
fixed-shape service: prefill, two forms, consent, step-up, review, submit), the engine, a worker and the API
under uvicorn. Every connection goes to 127.0.0.1. The figures are medians over the rounds; the machine is noisy.

Each part runs as it would in production, so that the engine's CPU is the engine's:
- The baseline (bench/baseline.py) runs on the same server with Temporal's default converter and sandbox: no codec,
  no GraphQL, no engine. It is a small module of its own, and its bytecode is written before the rounds
  (``cache_baseline_bytecode``): the sandbox re-imports a workflow's module for every workflow, and with
  PYTHONDONTWRITEBYTECODE set (as here) each import compiled it from source, which no deployed worker does.
  It shares the process with onestop's engine, and so its garbage collector settings too: after start-up the
  process freezes what start-up built and collects young objects less often (``engine/heap.py``, as ``onestop
  serve`` does), which makes the baseline cheaper as well.
- The citizens' HTTP load comes from a driver process of its own, so its CPU is counted apart from onestop's, as the
  citizens' browsers are not on the server's machine: libcurl's multi interface (pycurl) on the driver's event loop,
  over keep-alive HTTP/1.1 connections.
- A onestop round's CPU window closes when its applications are delivered and their receipt mails sent, work the
  engine does after the submit has answered; at the last answer it fell into the next round's window, the baseline's
  every other round.
- The external systems the engine calls are simulated in a process of their own (``Externals``): the identity
  provider that signs the citizens in and mints the step-up token (the dev IdP; the engine verifies its tokens
  against its JWKS over HTTP, as with ``ONESTOP_OIDC_ISSUER`` in production), the SMTP relay the receipt mail
  goes to (the dev mail sink) and the department's submission endpoint. The engine reaches them through its
  ordinary settings and definitions; only the client side of those calls is its CPU. As in production, the engine
  delivers each submission over HTTP as well as into its SQL inbox (development alone skips the HTTP call).
  e-ME's verified items still come from the SQL registry of department records, the embedded default, which runs
  in the engine as in a deployment that uses it.
Printed: applications/s and the ratio, CPU per application (the engine by thread, the Temporal server, the load
driver, the simulated externals), p50/p95 per citizen action, and from a few finished workflows the history events,
payload bytes, updates and activities per application.

This module's top level imports only the standard library, temporalio and bench/baseline.py; the heavy imports
(onestop, httpx, pycurl, uvicorn) happen inside functions, so the driver and externals processes start light.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baseline import ACTIONS, BaselineAction, BaselineInput, BaselineWorkflow, baseline_fetch
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from onestop.config import Settings
    from onestop.engine.container import Engine

SERVICE = "bench-licence-renewal"
STANDARD = "urn:onestop:acr:standard"
FACE = "urn:onestop:acr:face"
HISTORY_SAMPLES = 3
# Activity.DELIVER of onestop.workflows.contracts, spelled out: this module imports no onestop at its top level.
DELIVER_ACTIVITY = "onestop.deliver_submission"

SERVICE_YAML = """\
id: bench-licence-renewal
version: 1
department: TD
title: {en: Benchmark licence renewal, tc: 基準測試續領執照, sc: 基准测试续领执照}
summary:
  en: A fixed-shape service used by bench/applications.py.
  tc: 供 bench/applications.py 使用的固定服務。
  sc: 供 bench/applications.py 使用的固定服务。
keywords: {en: [benchmark], tc: [基準測試], sc: [基准测试]}
themes: [transport]
ageGroups: [children, youth, adult, elderly]
login: required
assurance: standard
draftExpiry: P30D
steps:
  - id: your-details
    type: prefill
    title: {en: Use the details government already holds, tc: 使用政府已有的資料}
    purpose:
      en: To fill in your name, identity card number, phone number and address.
      tc: 用以填寫你的姓名、身份證號碼、電話號碼及地址。
    items: [eme.nameEn, eme.hkid, eme.phone, eme.residentialAddress]

  - id: applicant
    type: form
    title: {en: About you, tc: 關於你}
    fields:
      - {id: applicantName, type: text, label: {en: Name in English, tc: 英文姓名}, required: true, maxLength: 80,
         prefill: eme.nameEn}
      - {id: hkid, type: hkid, label: {en: HKID number, tc: 香港身份證號碼}, required: true, prefill: eme.hkid}
      - {id: phone, type: phone, label: {en: Contact phone number, tc: 聯絡電話號碼}, required: true,
         prefill: eme.phone}

  - id: preferences
    type: form
    title: {en: Your renewal, tc: 你的續期}
    fields:
      - id: period
        type: choice
        label: {en: Renew for, tc: 續期年期}
        required: true
        options:
          - {value: "10", label: {en: 10 years, tc: 十年}}
          - {value: "3", label: {en: 3 years, tc: 三年}}
      - {id: mailingAddress, type: address, label: {en: Address for the new licence, tc: 新執照的郵寄地址},
         required: true, prefill: eme.residentialAddress}
      - {id: remarks, type: text, label: {en: Remarks, tc: 備註}, maxLength: 200}

  - id: share
    type: consent
    title: {en: Sharing with the Police, tc: 與警方共用資料}
    statement:
      en: I agree that the Transport Department may confirm with the Police that I am not disqualified from driving.
      tc: 本人同意運輸署向警方核實本人並無被取消駕駛資格。
    required: true

  - id: verify-face
    type: stepUp
    title: {en: Confirm it is you, tc: 確認你的身份}
    assurance: face
    maxAge: PT5M

  - id: check
    type: review
    title: {en: Check your answers, tc: 核對你的答案}
    fields:
      - {id: declaration, type: boolean, required: true,
         label: {en: I declare that the answers are true., tc: 本人聲明以上資料屬實。}}

  - id: send
    type: submit
    title: {en: Submit, tc: 遞交}
"""

FRAGMENT = """
fragment A on Application {
  id status referenceNumber
  currentStep { id type title fields { id type label required value prefilled source options { value label } } }
  steps { id state }
}
"""


def _mutation(variables: str, call: str) -> str:
    payload = "application { ...A } userErrors { field message code }"
    return FRAGMENT + f"mutation({variables}) {{ {call} {{ {payload} }} }}"


START = _mutation("$slug: String!, $cmid: String",
                  "startApplication(input: {serviceSlug: $slug, clientMutationId: $cmid})")
GRANT = _mutation("$id: ID!, $step: String!, $cmid: String",
                  "grantConsent(input: {applicationId: $id, stepId: $step, clientMutationId: $cmid})")
SUBMIT = _mutation("$id: ID!, $step: String!, $answers: JSON!, $cmid: String",
                   "submitStep(input: {applicationId: $id, stepId: $step, answers: $answers, clientMutationId: $cmid})")
STEP_UP = _mutation("$id: ID!, $step: String!, $cmid: String",
                    "completeStepUp(input: {applicationId: $id, stepId: $step, clientMutationId: $cmid})")


class BenchError(Exception):
    """The application path refused or failed a step; the message says which and what came back."""


# ---------------------------------------------------------------------------------------------------------------
# Measurement


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {})

    def add(self, action: str, seconds: float) -> None:
        self.latencies.setdefault(action, []).append(seconds)


async def timed(samples: Samples, action: str, call: Awaitable[Any]) -> Any:
    began = time.perf_counter()
    result = await call
    samples.add(action, time.perf_counter() - began)
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class HistoryFigures:
    events: float
    payload_bytes: float
    updates: float
    activities: float        # scheduled activities
    local_activities: float  # marker events
    payload_by_event: dict[str, float] = field(default_factory=lambda: {})  # bytes per event type, largest first


def _payload_bytes(message: Message) -> int:
    if isinstance(message, Payload):
        return len(message.data)
    total = 0
    for descriptor, value in message.ListFields():
        if descriptor.type != descriptor.TYPE_MESSAGE:
            continue
        if hasattr(value, "ListFields"):
            total += _payload_bytes(value)
            continue
        items: Iterable[Any] = value.values() if hasattr(value, "values") else value  # map or repeated
        total += sum(_payload_bytes(item) for item in items if hasattr(item, "ListFields"))
    return total


async def history_figures(client: Client, workflow_ids: Sequence[str]) -> HistoryFigures:
    counts: list[tuple[int, int, int, int, int]] = []
    by_event: dict[str, list[int]] = {}
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        events = history.events
        kinds = [e.event_type for e in events]
        sizes = [_payload_bytes(e) for e in events]
        counts.append((
            len(events),
            sum(sizes),
            kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
            kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
            kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED),
        ))
        totals: dict[str, int] = {}
        for kind, size in zip(kinds, sizes, strict=True):
            name = EventType.Name(kind).removeprefix("EVENT_TYPE_")
            totals[name] = totals.get(name, 0) + size
        for name, size in totals.items():
            by_event.setdefault(name, []).append(size)
    medians = [statistics.median(column) for column in zip(*counts, strict=True)]
    breakdown = {name: statistics.median(sizes) for name, sizes in by_event.items() if sum(sizes)}
    ordered = dict(sorted(breakdown.items(), key=lambda item: -item[1]))
    return HistoryFigures(medians[0], medians[1], medians[2], medians[3], medians[4], ordered)


async def settled(client: Client, workflow_id: str, ready: Callable[[list[Any]], bool], within: float = 30.0
                  ) -> None:
    """Wait until the workflow's history satisfies ``ready`` and no workflow task is in flight."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        events = list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
        if ready(events) and events[-1].event_type in (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                                                       EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED):
            return
        await asyncio.sleep(0.1)
    raise BenchError(f"workflow {workflow_id} did not settle in {within:.0f}s")


def _delivered(events: list[Any]) -> bool:
    # The delivery activity has completed (prefill may be a local activity, so it is looked for by name).
    deliveries = {e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                  and e.activity_task_scheduled_event_attributes.activity_type.name == DELIVER_ACTIVITY}
    return any(e.activity_task_completed_event_attributes.scheduled_event_id in deliveries for e in events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)


def _completed(events: list[Any]) -> bool:
    last: int = events[-1].event_type
    return last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


# ---------------------------------------------------------------------------------------------------------------
# The onestop side: real engine, worker and API; citizens over HTTP.


@dataclass
class Citizen:
    login: str
    headers: dict[str, str]
    selfie: str


# What every request says besides its own headers (httpx's defaults, which the driver sent first, but for the user
# agent, which names the bench); the encodings are libcurl's to ask for and decode (``HttpClient``). "Expect:" sends no
# "Expect: 100-continue" before a body, whatever its size.
COMMON_HEADERS = ("Accept: */*", "Connection: keep-alive", "User-Agent: onestop-bench", "Expect:")
ACCEPT_ENCODING = "gzip, deflate"
JSON_BODY = ("Content-Type: application/json",)


class HttpClient:
    """The citizens' HTTP client: libcurl's multi interface (pycurl) on the running event loop, which tells libcurl
    when a socket of its can be read or written (``loop.add_reader``/``add_writer``) and when its timer is due. Up to
    ``connections`` keep-alive HTTP/1.1 connections; a request and its answer within ``timeout`` seconds; no cookies
    (libcurl keeps none unless asked), no proxy from the environment (only 127.0.0.1 is spoken to); gzip and deflate
    answers decoded. libcurl does in C what aiohttp's client did in Python: the driver's CPU per application was about
    2.4 ms where aiohttp's took 3.9 (bench runs side by side), and 2.6 where it took 4.3 in a same-process A/B against
    a running stack (a hand-written client took less still, but HTTP is a library's job)."""

    def __init__(self, connections: int, timeout: float) -> None:
        import pycurl

        self.curl = pycurl  # imported here, not at the module's top (see its docstring); kept for the callbacks
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._watch)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._timer)
        self.multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, connections)  # more requests than that wait their turn
        self.multi.setopt(pycurl.M_MAXCONNECTS, connections)  # and all of them stay open between requests
        self.idle: list[Any] = []  # easy handles to reuse (each keeps its fixed options)
        self.pending: dict[Any, asyncio.Future[None]] = {}  # easy handle -> its caller's future
        self.reading: set[int] = set()  # sockets with a reader on the loop
        self.writing: set[int] = set()  # sockets with a writer on the loop
        self.deadline: float | None = None  # when libcurl wants socket_action(SOCKET_TIMEOUT) called, in loop time
        self.soon: asyncio.Handle | None = None  # that call on the loop's next turn
        self.due: asyncio.TimerHandle | None = None  # that call at a time, at self.deadline or earlier

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle, waiting in list(self.pending.items()):
            self.multi.remove_handle(handle)
            waiting.cancel()
        for fd in self.reading:
            self.loop.remove_reader(fd)
        for fd in self.writing:
            self.loop.remove_writer(fd)
        self.reading.clear()
        self.writing.clear()
        self.multi.close()  # and with it the connections
        for call in (self.soon, self.due):
            if call is not None:
                call.cancel()
        for handle in (*self.idle, *self.pending):
            handle.close()
        self.idle.clear()
        self.pending.clear()

    async def request(self, url: str, headers: Sequence[str], body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of a GET (``body`` None) or a POST of ``body``; ``headers`` as "Name: value" lines. A
        failure raises ``HttpError`` with libcurl's code and message."""
        pycurl = self.curl
        handle = self.idle.pop() if self.idle else self._handle()
        chunks: list[bytes] = []
        handle.setopt(pycurl.URL, url)
        handle.setopt(pycurl.HTTPHEADER, headers)
        handle.setopt(pycurl.WRITEFUNCTION, chunks.append)
        if body is None:
            handle.setopt(pycurl.HTTPGET, 1)
        else:
            handle.setopt(pycurl.POSTFIELDS, body)
        try:
            self.multi.add_handle(handle)  # libcurl sets its timer to 0: the transfer starts on the loop's next turn
        except pycurl.error as exc:
            self.idle.append(handle)
            raise HttpError(exc.args[0], str(exc.args[-1]), 0) from exc
        done = self.pending[handle] = self.loop.create_future()
        try:
            await done
        except BaseException:
            if self.pending.pop(handle, None) is not None:  # cancelled while in flight
                self.multi.remove_handle(handle)
            self.idle.append(handle)
            raise
        status: int = handle.getinfo(pycurl.RESPONSE_CODE)
        self.idle.append(handle)
        return status, b"".join(chunks)

    def _handle(self) -> Any:
        pycurl = self.curl
        handle = pycurl.Curl()
        handle.setopt(pycurl.PROXY, "")  # no proxy, whatever the environment says
        handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        handle.setopt(pycurl.ACCEPT_ENCODING, ACCEPT_ENCODING)
        handle.setopt(pycurl.TIMEOUT_MS, round(self.timeout * 1000))
        handle.setopt(pycurl.NOSIGNAL, 1)
        return handle

    def _watch(self, what: int, fd: int, multi: Any, socketp: Any) -> None:
        # libcurl's socket callback: what it waits for on ``fd`` now; POLL_REMOVE (nothing) when the connection is idle
        # or about to close. A reader kept on an idle connection would outlive the socket when libcurl closes it, and
        # trip up the next connection given the same descriptor number: taken off, and put back for the next request.
        pycurl, loop = self.curl, self.loop
        if what & pycurl.POLL_IN:
            if fd not in self.reading:
                self.reading.add(fd)
                loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        elif fd in self.reading:
            self.reading.discard(fd)
            loop.remove_reader(fd)
        if what & pycurl.POLL_OUT:
            if fd not in self.writing:
                self.writing.add(fd)
                loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
        elif fd in self.writing:
            self.writing.discard(fd)
            loop.remove_writer(fd)

    def _timer(self, milliseconds: int) -> None:
        # libcurl's timer callback: call socket_action(SOCKET_TIMEOUT) in ``milliseconds`` (0: on the loop's next turn;
        # -1: no need). Each request asks for 0 (to start) and then for its timeout, as a rule later than the one armed:
        # that one is left armed, to fire early (libcurl takes that in its stride) and arm the later one then. A timer
        # of the loop's set and cancelled for each request cost about 0.2 ms of CPU per application.
        loop = self.loop
        if milliseconds <= 0:
            self.deadline = None
            if milliseconds == 0 and self.soon is None:
                self.soon = loop.call_soon(self._now)
            return
        self.deadline = deadline = loop.time() + milliseconds / 1000
        if self.due is None or self.due.when() > deadline:
            if self.due is not None:
                self.due.cancel()
            self.due = loop.call_at(deadline, self._later)

    def _now(self) -> None:
        self.soon = None
        self._act(self.curl.SOCKET_TIMEOUT, 0)

    def _later(self) -> None:
        self.due = None
        self._act(self.curl.SOCKET_TIMEOUT, 0)
        if self.due is None and self.deadline is not None and self.deadline > self.loop.time():
            self.due = self.loop.call_at(self.deadline, self._later)

    def _act(self, fd: int, event: int) -> None:
        try:
            self.multi.socket_action(fd, event)
        except self.curl.error as exc:  # the multi handle is broken: every transfer on it fails, none hangs
            failure = HttpError(exc.args[0], str(exc.args[-1]), 0)
            for waiting in self.pending.values():
                if not waiting.done():
                    waiting.set_exception(failure)
            self.pending.clear()
            return
        while True:
            queued, succeeded, failed = self.multi.info_read()
            for handle in succeeded:
                self._finish(handle, None)
            for handle, code, message in failed:
                self._finish(handle, HttpError(code, message, handle.getinfo(self.curl.OS_ERRNO)))
            if not queued:
                return

    def _finish(self, handle: Any, error: HttpError | None) -> None:
        self.multi.remove_handle(handle)
        done = self.pending.pop(handle)
        if done.cancelled():  # its caller was cancelled, and has not run since
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class HttpError(Exception):
    """A request that got no whole answer: libcurl's error ``code`` and message, and the OS error number behind it
    (0 if none)."""

    def __init__(self, code: int, message: str, os_errno: int) -> None:
        super().__init__(code, message, os_errno)
        self.code, self.message, self.os_errno = code, message, os_errno

    def __str__(self) -> str:
        import errno

        cause = f" ({errno.errorcode.get(self.os_errno, self.os_errno)})" if self.os_errno else ""
        return f"{self.message}{cause}"


def client_session(connections: int, timeout: float = 60.0) -> HttpClient:
    """The citizens' HTTP client (``HttpClient``), to be entered on the event loop it is to run on."""
    return HttpClient(connections, timeout)


class Api:
    """The citizens' HTTP calls over ``http`` (``client_session``): GraphQL mutations to the API at ``url`` and token
    requests to the dev IdP at ``idp`` (in the simulated externals' process)."""

    def __init__(self, http: HttpClient, url: str, idp: str) -> None:
        self.http = http
        self.idp = idp
        self.graphql = f"{url}/graphql"
        self.tokens = f"{idp}/token"
        self.citizens = f"{idp}/citizens"

    async def request(self, method: str, url: str, headers: Mapping[str, str],
                      body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        """The answer's status and body (``body`` sent as JSON, ``method`` POST; else GET); no answer is a
        BenchError."""
        import orjson

        curl, lines = self.http.curl, [*COMMON_HEADERS, *(f"{name}: {value}" for name, value in headers.items())]
        try:
            if body is None:
                return await self.http.request(url, lines)
            return await self.http.request(url, [*lines, *JSON_BODY], orjson.dumps(body))
        except HttpError as exc:
            if exc.code == curl.E_COULDNT_CONNECT:
                raise BenchError(f"{method} {url}: could not connect: {exc}") from exc
            if exc.code == curl.E_OPERATION_TIMEDOUT:
                raise BenchError(f"{method} {url}: TimeoutError: no answer within {self.http.timeout}s") from exc
            raise BenchError(f"{method} {url}: no readable answer: {exc}") from exc

    async def mutation(self, query: str, variables: Mapping[str, Any], headers: Mapping[str, str],
                       name: str) -> dict[str, Any]:
        import orjson

        status, content = await self.request("POST", self.graphql, headers,
                                             {"query": query, "variables": dict(variables)})
        if status != 200:
            raise BenchError(f"{name}: HTTP {status}: {content[:500].decode(errors='replace')}")
        body: dict[str, Any] = orjson.loads(content)
        if body.get("errors"):
            raise BenchError(f"{name}: {body['errors']}")
        payload: dict[str, Any] = body["data"][name]
        if payload.get("userErrors"):
            raise BenchError(f"{name}: {payload['userErrors']}")
        application: dict[str, Any] = payload["application"]
        return application

    async def token(self, body: Mapping[str, Any]) -> dict[str, str]:
        import orjson

        status, content = await self.request("POST", self.tokens, {}, dict(body))
        if status != 200:
            raise BenchError(f"dev IdP token: HTTP {status}: {content[:300].decode(errors='replace')}")
        return {"Authorization": f"Bearer {orjson.loads(content)['access_token']}", "Accept-Language": "en"}


def _values(application: Mapping[str, Any]) -> dict[str, Any]:
    return {f["id"]: f["value"] for f in application["currentStep"]["fields"] if f["value"] is not None}


def _expect_step(application: Mapping[str, Any], step: str) -> None:
    current = application["currentStep"]
    if current is None or current["id"] != step:
        raise BenchError(f"expected step {step!r}, the application is at {current and current['id']!r} "
                         f"({application['status']})")


async def citizen_application(api: Api, citizen: Citizen, samples: Samples) -> str:
    """One full application; returns the workflow id."""
    from onestop.graphql.relay import from_global_id

    headers = citizen.headers
    cmid = uuid.uuid4().hex

    def ids(step: str) -> dict[str, Any]:
        return {"id": app_id, "step": step, "cmid": f"{cmid}-{step}"}

    app = await timed(samples, "start", api.mutation(START, {"slug": SERVICE, "cmid": cmid}, headers,
                                                     "startApplication"))
    app_id = app["id"]
    _expect_step(app, "your-details")
    app = await timed(samples, "prefill", api.mutation(GRANT, ids("your-details"), headers, "grantConsent"))
    _expect_step(app, "applicant")
    answers = _values(app)
    app = await timed(samples, "applicant", api.mutation(SUBMIT, ids("applicant") | {"answers": answers}, headers,
                                                         "submitStep"))
    _expect_step(app, "preferences")
    answers = _values(app) | {"period": "10", "remarks": "benchmark"}
    app = await timed(samples, "preferences", api.mutation(SUBMIT, ids("preferences") | {"answers": answers},
                                                           headers, "submitStep"))
    _expect_step(app, "share")
    app = await timed(samples, "consent", api.mutation(GRANT, ids("share"), headers, "grantConsent"))
    _expect_step(app, "verify-face")
    parsed = from_global_id(app_id)
    if parsed is None:
        raise BenchError(f"not an application id: {app_id!r}")
    face = await timed(samples, "face token (dev IdP)", api.token(
        {"citizen": citizen.login, "acr": FACE, "selfie": citizen.selfie, "binding": f"{parsed[1]}:verify-face"}))
    app = await timed(samples, "stepUp", api.mutation(STEP_UP, ids("verify-face"), face, "completeStepUp"))
    _expect_step(app, "check")
    app = await timed(samples, "review", api.mutation(SUBMIT, ids("check") | {"answers": {"declaration": True}},
                                                      headers, "submitStep"))
    _expect_step(app, "send")
    app = await timed(samples, "submit", api.mutation(SUBMIT, ids("send") | {"answers": {}}, headers, "submitStep"))
    if app["status"] != "SUBMITTED" or not app["referenceNumber"]:
        raise BenchError(f"submit left the application {app['status']} without a reference number")
    return parsed[1]


def repo_root() -> Path:
    # Not at import time: the workflow sandbox re-runs this module and refuses file-system calls.
    return Path(__file__).resolve().parent.parent


def write_definitions(target: Path) -> Path:
    """The seed taxonomy, option lists, departments, feeds and dev fixtures, plus the benchmark service only."""
    source = repo_root() / "definitions"
    target.mkdir(parents=True)
    for name in ("taxonomy.yaml", "option-lists.yaml", "feeds.yaml"):
        shutil.copy2(source / name, target / name)
    for name in ("departments", "dev", "feeds", "schema"):
        shutil.copytree(source / name, target / name)
    services = target / "services" / "transport"
    services.mkdir(parents=True)
    (services / f"{SERVICE}.yaml").write_text(SERVICE_YAML, encoding="utf-8")
    return target


def point_submissions_at(definitions: Path, base: str) -> None:
    """Each department's submission endpoint becomes ``<base>/<code>/submissions`` (the simulated departments)."""
    import yaml

    for path in sorted((definitions / "departments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data.get("submission"), dict) and data["submission"].get("url"):
            data["submission"]["url"] = f"{base}/{data['code']}/submissions"
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def _started(server: Any, serving: asyncio.Task[None]) -> None:
    """Wait until uvicorn ``server`` (served by the task ``serving``) listens; its error if it stopped first."""
    while not server.started:
        if serving.done():
            serving.result()
            raise BenchError("uvicorn stopped before it started")
        await asyncio.sleep(0.05)


def _quiet_server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        # Ctrl-C must reach asyncio.run, which cancels the run and lets every part shut down in order;
        # uvicorn's own capture would stop only the API and leave the rounds failing against it.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


def bench_settings(workdir: Path, **values: Any) -> Settings:
    """The engine's settings (development, its data in ``workdir``); the simulated externals use the same data dir,
    so the dev IdP's signing key and pairwise subjects are the ones the engine seeds its citizens' data under."""
    from onestop.config import Environment, Settings

    fixed: dict[str, Any] = {"env": Environment.DEVELOPMENT, "definitions": workdir / "definitions",
                             "data_dir": workdir / "data", "database_url": None, "temporal_address": None,
                             "host": "127.0.0.1", "port": 0, "catalogue_poll_seconds": 0.0}
    return Settings(**(fixed | values))


@contextlib.asynccontextmanager
async def onestop_stack(client: Client, workdir: Path, task_queue: str, externals: Externals
                        ) -> AsyncIterator[tuple[str, Client, Engine]]:
    """Engine, worker and API under uvicorn on 127.0.0.1, as ``onestop serve`` wires them, pointed at the simulated
    external systems (identity provider, SMTP relay, department endpoint) through its ordinary settings."""
    from onestop.config import SmtpSecurity
    from onestop.engine import heap
    from onestop.engine.applications.activities import activities_for
    from onestop.engine.applications.delivery import DeliveryClient
    from onestop.engine.container import build_engine
    from onestop.engine.crypto.codec import data_converter
    from onestop.engine.temporal import build_worker
    from onestop.graphql.app import create_app
    from onestop.serving import api_config

    _QuietServer = _quiet_server_class()
    settings = bench_settings(
        workdir, temporal_task_queue=task_queue,
        oidc_issuer=externals.issuer, oidc_jwks_url=f"{externals.issuer}/jwks.json",
        smtp_host=externals.smtp[0], smtp_port=externals.smtp[1], smtp_security=SmtpSecurity.NONE,
        # The per-caller limiter stays in the path but never refuses: the benchmark's citizens share seven dev
        # subjects and one client address, which no real caller does.
        rate_limit_per_minute=10_000_000, token_rate_limit_per_minute=10_000_000)
    config = client.config()
    config["data_converter"] = data_converter(settings.key_bytes("codec_key"))
    codec_client = Client(**config)
    engine = await build_engine(settings, codec_client)
    try:
        # trust_env=False: never route through a proxy from the environment; only 127.0.0.1 is spoken to.
        async with DeliveryClient(timeout=30, trust_env=False) as outbound:
            activities = activities_for(engine, outbound)
            # Production delivers each submission to its department's endpoint over HTTP as well as into the SQL
            # inbox; development skips the HTTP call. Here the endpoint is the simulated department.
            activities.http_delivery = True
            worker = build_worker(codec_client, task_queue, activities.all())
            async with worker:
                heap.settle()  # as `onestop serve` does once start-up is done
                server = _QuietServer(api_config(create_app(settings, engine), host="127.0.0.1", port=0))
                serving = asyncio.create_task(server.serve())
                try:
                    await _started(server, serving)
                    port = server.servers[0].sockets[0].getsockname()[1]
                    yield f"http://127.0.0.1:{port}", codec_client, engine
                finally:
                    server.should_exit = True
                    await serving
    finally:
        await engine.close()


async def sign_in(api: Api, count: int) -> list[Citizen]:
    import orjson

    status, content = await api.request("GET", api.citizens, {})
    if status != 200:
        raise BenchError(f"dev IdP citizens: HTTP {status}: {content[:300].decode(errors='replace')}")
    listed = orjson.loads(content)
    entries = listed["citizens"] if isinstance(listed, dict) else listed
    people = [(e["id"], e["faceSamples"]["match"]) for e in entries]
    citizens: list[Citizen] = []
    for number in range(count):
        login, selfie = people[number % len(people)]
        citizens.append(Citizen(login, await api.token({"citizen": login, "acr": STANDARD}), selfie))
    return citizens


async def onestop_round(api: Api, citizens: Sequence[Citizen], samples: Samples) -> tuple[float, list[str]]:
    began = time.perf_counter()
    ids = await asyncio.gather(*(citizen_application(api, c, samples) for c in citizens))
    return len(citizens) / (time.perf_counter() - began), list(ids)


class Driver:
    """The citizens' HTTP load, run in a process of its own (``--drive``) so that its CPU is measured apart from
    onestop's and takes no share of the API's event loop, as real citizens' browsers would not."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, citizens: int, idp: str) -> Driver:
        from onestop.runtime import running_loop_name

        process = await asyncio.create_subprocess_exec(
            sys.executable, str(repo_root() / "bench" / "applications.py"), "--drive", url, "--idp", idp,
            "--citizens", str(citizens), "--loop", running_loop_name(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(repo_root()))
        driver = cls(process)
        await driver._answer()  # signed in and ready
        return driver

    async def round(self, count: int, samples: Samples) -> tuple[float, list[str], float]:
        """Run ``count`` citizens; (applications/s, workflow ids, the driver's CPU seconds for the round)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{json.dumps({'count': count})}\n".encode())
        await self.process.stdin.drain()
        answer = await self._answer()
        for action, values in answer["latencies"].items():
            for value in values:
                samples.add(action, value)
        return answer["rate"], answer["ids"], answer["cpu"]

    async def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise BenchError(f"the load driver stopped (exit code {await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise BenchError(f"load driver: {answer['error']}")
        return answer

    async def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def drive(url: str, citizens: int, idp: str) -> None:
    """The driver's side: sign the citizens in, then run one round per request line on stdin until it closes.

    It stands in for the citizens' browsers, which are not on the server's machine, yet runs on the server's cores:
    it is kept light: libcurl (``HttpClient``) and orjson cost it about 2.4 ms of CPU per application, aiohttp's client
    about 3.9 and httpx 14."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(answer: Mapping[str, Any]) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    # A connection per citizen, and a few over for the dev IdP's.
    async with client_session(citizens + 4) as http:
        api = Api(http, url, idp)
        try:
            people = await sign_in(api, citizens)
        except BenchError as exc:
            say({"error": str(exc)})
            return
        say({"ready": True})
        while line := await reader.readline():
            count = json.loads(line)["count"]
            samples = Samples()
            cpu = time.process_time()
            try:
                rate, ids = await onestop_round(api, people[:count], samples)
            except BenchError as exc:
                say({"error": str(exc)})
                return
            say({"rate": rate, "ids": ids, "cpu": time.process_time() - cpu, "latencies": samples.latencies})


class Externals:
    """The simulated external systems, run in a process of their own (``--externals``) as they are other systems in
    production: the dev identity provider (the citizens' tokens, the face step-up) and the SMTP relay (the dev mail
    sink). The engine reaches them through its ordinary settings (OIDC issuer and JWKS URL, SMTP host and port), so
    only the client side of those calls is the engine's CPU; theirs is measured apart, like the load driver's."""

    def __init__(self, process: asyncio.subprocess.Process, issuer: str, smtp: tuple[str, int],
                 departments: str) -> None:
        self.process = process
        self.issuer = issuer
        self.smtp = smtp
        self.departments = departments  # base URL of the departments' submission endpoints
        self.received: dict[str, int] = {}  # mails and submissions received, known once stopped

    @classmethod
    async def start(cls, workdir: Path) -> Externals:
        from onestop.runtime import running_loop_name

        process = await asyncio.create_subprocess_exec(
            sys.executable, str(repo_root() / "bench" / "applications.py"), "--externals", str(workdir),
            "--loop", running_loop_name(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=str(repo_root()))
        answer = await cls._answer(process)
        return cls(process, answer["issuer"], (answer["smtp"][0], answer["smtp"][1]), answer["departments"])

    @staticmethod
    async def _answer(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise BenchError(f"the simulated externals stopped (exit code {await process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            self.received = (await asyncio.wait_for(self._answer(self.process), 10))["received"]
            await asyncio.wait_for(self.process.wait(), 10)
        except (TimeoutError, BenchError, KeyError):
            if self.process.returncode is None:
                self.process.kill()
            await self.process.wait()


async def serve_externals(workdir: Path) -> None:
    """The externals' side: serve the dev IdP and the departments' endpoints over HTTP and the SMTP sink until stdin
    closes."""
    import socket

    import orjson
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route, Router

    from onestop.catalogue.catalogue import load_catalogue
    from onestop.engine.dev.idp import DevIdentityProvider
    from onestop.engine.dev.mail import DevMailbox

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # The IdP's issuer is its own address; its key and pairwise secret are the data dir's (see bench_settings).
    settings = bench_settings(workdir, port=port)
    catalogue = await asyncio.to_thread(load_catalogue, settings.definitions)
    idp = DevIdentityProvider.from_settings(settings, catalogue.assurance,
                                            age_group_of=lambda age: catalogue.age_group_for(age).id)
    # The relay keeps what it receives in memory: a file per message cost this process more CPU than the SMTP
    # conversation itself (creating a file is dear on the benchmark's machines), for a mailbox nobody reads.
    mailbox = DevMailbox(None)
    smtp = await mailbox.start()
    submissions = 0

    async def department(request: Request) -> Response:
        # A department takes the signed submission (checking it against the platform's keys is its own work).
        nonlocal submissions
        body = orjson.loads(await request.body())
        if not body.get("jws") or request.headers.get("Idempotency-Key") != body.get("applicationId"):
            return Response(status_code=400)
        submissions += 1
        return Response(status_code=202)

    # A bare router: Starlette's error and exception middlewares would wrap every request for nothing here (an
    # exception still answers 500, from uvicorn).
    app = Router(routes=[Mount("/dev-idp", app=idp.app),
                         Route("/departments/{code}/submissions", department, methods=["POST"])])
    # Idle connections stay open between rounds (uvicorn's default closes them after 5 s, and a client reusing one
    # just as it closes fails with a ReadError): the driver calls the IdP once per application only. No forwarded
    # headers are looked at (only the bench's processes connect), as in the API's configuration.
    server = _quiet_server_class()(uvicorn.Config(app, http="httptools", log_level="warning", lifespan="off",
                                                  access_log=False, proxy_headers=False, timeout_keep_alive=600))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await _started(server, serving)
        sys.stdout.write(json.dumps({"issuer": idp.issuer, "smtp": list(smtp),
                                     "departments": f"http://127.0.0.1:{port}/departments"}) + "\n")
        sys.stdout.flush()
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # until the bench closes our stdin
    finally:
        server.should_exit = True
        await serving
        await mailbox.close()
    sys.stdout.write(json.dumps({"received": {"mails": mailbox.received, "submissions": submissions}}) + "\n")
    sys.stdout.flush()


async def baseline_application(client: Client, task_queue: str, citizen: str, samples: Samples) -> str:
    workflow_id = f"bench-baseline-{uuid.uuid4().hex}"
    operation = WithStartWorkflowOperation(
        BaselineWorkflow.run, BaselineInput(citizen), id=workflow_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await timed(samples, "start", client.execute_update_with_start_workflow(
        BaselineWorkflow.open, BaselineAction("start"), start_workflow_operation=operation))
    handle = client.get_workflow_handle_for(BaselineWorkflow.run, workflow_id)
    for step in ACTIONS[1:]:
        answers = {"period": "10", "remarks": "benchmark"} if step == "preferences" else {}
        await timed(samples, step, handle.execute_update(BaselineWorkflow.act, BaselineAction(step, answers)))
    return workflow_id


async def baseline_round(client: Client, task_queue: str, count: int, samples: Samples) -> tuple[float, list[str]]:
    began = time.perf_counter()
    ids = await asyncio.gather(*(baseline_application(client, task_queue, f"citizen-{n}", samples)
                                 for n in range(count)))
    return count / (time.perf_counter() - began), list(ids)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_of(stat: Path) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) from a /proc stat file; None when it is gone or unreadable."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK  # ppid; utime and stime


def server_cpu(apart: Collection[int | None]) -> float:
    """CPU seconds of this process's children (the Temporal dev server) but those ``apart`` (the load driver, the
    simulated externals); 0 without /proc."""
    me, total, others = os.getpid(), 0.0, {str(pid) for pid in apart}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        found = _cpu_of(stat)
        if found is not None and found[0] == me and stat.parent.name not in others:
            total += found[1]
    return total


def process_cpu(pid: int | None) -> float:
    """CPU seconds of process ``pid`` (the simulated externals): the scheduler run time of its threads (see
    ``THREAD_PARTS``: the tick-sampled total of /proc/<pid>/stat moves by 10 ms, more than a round's 16 applications
    cost that process), else that total; 0 when it is None or gone, or without /proc. Its threads live as long as
    it does (its event loop and the executor's), so none takes its CPU away during a round."""
    if pid is None:
        return 0.0
    times = [seconds for task in Path(f"/proc/{pid}/task").glob("[0-9]*") if (seconds := _run_time(task)) is not None]
    if times:
        return sum(times)
    found = _cpu_of(Path(f"/proc/{pid}/stat"))
    return 0.0 if found is None else found[1]


THREAD_PARTS = ("event loop", "SQLite", "workflow tasks", "other threads", "SDK core")
"""This process's CPU by thread: the event loop runs the API, the activities and the worker's Python side (and the
workflow activations, which onestop's workers run there: engine/activations.py); SQLite is aiosqlite's connection
threads; workflow tasks are the SDK's workflow threads (the baseline's); the SDK core is Rust. Ended threads is the
rest of the process's CPU: threads that ended during the round (none do in a round today: the SQLite pool and the
SDK's threads live as long as the process), plus the error of the per-thread figures.

Each thread's CPU is its scheduler run time (``/proc/self/task/<tid>/schedstat``, in nanoseconds). The tick-sampled
utime + stime of ``/proc/self/task/<tid>/stat`` lags the process's precise total by about 5 ms per application
under this load, which showed up as 5 ms of "ended threads" that no thread had used."""


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds by thread id of this process, each with its part (see ``THREAD_PARTS``); empty without /proc."""
    import threading

    import aiosqlite

    python = {t.native_id: t for t in threading.enumerate()}
    main = threading.main_thread().native_id
    found: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc/self/task").glob("[0-9]*/stat"):
        seconds = _run_time(stat.parent)
        if seconds is None:
            continue
        tid = int(stat.parent.name)
        thread = python.get(tid)
        part = ("event loop" if tid == main else "SDK core" if thread is None
                else "SQLite" if _is_sqlite(thread, aiosqlite.Connection)
                else "workflow tasks" if thread.name.startswith("temporal_workflow") else "other threads")
        found[tid] = (part, seconds)
    return found


def _run_time(task: Path) -> float | None:
    """A thread's CPU seconds: its scheduler run time, else (no schedstat) its utime + stime; None when gone."""
    try:
        return int((task / "schedstat").read_text().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        figures = _cpu_of(task / "stat")
        return None if figures is None else figures[1]


def _is_sqlite(thread: Any, connection: type) -> bool:
    # aiosqlite before 0.22 made each connection a Thread; since, a connection runs a Thread of its own whose
    # target is _connection_worker_thread (in the thread's default name).
    return isinstance(thread, connection) or "_connection_worker_thread" in thread.name


@dataclass(frozen=True)
class Cpu:
    """CPU milliseconds per application in one round, by part."""

    engine: float  # this process: onestop's API and worker (or the baseline's client and worker)
    server: float  # the Temporal dev server
    driver: float = 0.0  # the load driver process (onestop only)
    externals: float = 0.0  # the simulated external systems' process (the dev IdP, the SMTP sink)
    threads: dict[str, float] = field(default_factory=lambda: {})  # ``engine`` by thread part


async def measured(round_: Awaitable[tuple[float, list[str], float]], rates: list[float], cpu: list[Cpu],
                   driver: int | None, externals: int | None) -> list[str]:
    """Run a round; record its rate and its CPU per application."""
    apart = (driver, externals)
    process, server, outside, threads = time.process_time(), server_cpu(apart), process_cpu(externals), thread_cpu()
    rate, ids, driven = await round_
    after = thread_cpu()
    simulated = process_cpu(externals) - outside
    count = len(ids)
    engine = time.process_time() - process
    parts = dict.fromkeys(THREAD_PARTS, 0.0)
    for tid, (part, seconds) in after.items():
        parts[part] += seconds - threads.get(tid, (part, 0.0))[1]
    # Threads that ended during the round take their CPU with them; the process total still counts it.
    parts["ended threads"] = max(0.0, engine - sum(parts.values()))
    rates.append(rate)
    per = 1000 / count
    cpu.append(Cpu(engine * per, (server_cpu(apart) - server) * per, driven * per, simulated * per,
                   {part: seconds * per for part, seconds in parts.items()}))
    return ids


# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Results:
    citizens: int
    rounds: int
    persist: bool
    loop: str = "asyncio"  # the event loop onestop and the baseline shared, as it ran
    onestop_rates: list[float] = field(default_factory=list)
    baseline_rates: list[float] = field(default_factory=list)
    onestop_samples: Samples = field(default_factory=Samples)
    baseline_samples: Samples = field(default_factory=Samples)
    onestop_cpu: list[Cpu] = field(default_factory=list)
    baseline_cpu: list[Cpu] = field(default_factory=list)
    onestop_history: HistoryFigures | None = None
    baseline_history: HistoryFigures | None = None
    onestop_ids: list[str] = field(default_factory=list)  # the last round's workflows
    baseline_ids: list[str] = field(default_factory=list)
    externals_received: dict[str, int] = field(default_factory=dict)  # mails, submissions over the whole run


async def run(citizens: int, rounds: int, *, persist: bool = False, warmup: bool = True,
              progress: bool = True) -> Results:
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from onestop.engine.temporal import DEV_SERVER_DYNAMIC_CONFIG, SEARCH_ATTRIBUTES, temporal_binary
    from onestop.runtime import running_loop_name

    results = Results(citizens, rounds, persist, running_loop_name())
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM unwinds like Ctrl-C: every part below is shut down in order
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    with tempfile.TemporaryDirectory(prefix="onestop-bench-") as tmp:
        workdir = Path(tmp)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_binary()), ip="127.0.0.1", search_attributes=SEARCH_ATTRIBUTES,
            dev_server_log_level="error", dev_server_extra_args=list(DEV_SERVER_DYNAMIC_CONFIG),
            dev_server_database_filename=str(workdir / "temporal.db") if persist else None,
        )
        try:
            baseline_queue, onestop_queue = f"bench-baseline-{uuid.uuid4().hex}", f"bench-onestop-{uuid.uuid4().hex}"
            write_definitions(workdir / "definitions")
            externals = await Externals.start(workdir)
            try:
                point_submissions_at(workdir / "definitions", externals.departments)
                async with onestop_stack(env.client, workdir, onestop_queue, externals) as stack, \
                        Worker(env.client, task_queue=baseline_queue, workflows=[BaselineWorkflow],
                               activities=[baseline_fetch]):
                    url, codec_client, engine = stack
                    driver = await Driver.start(url, citizens, externals.issuer)
                    try:
                        await _rounds(results, driver, engine, externals, env.client, baseline_queue,
                                      warmup=warmup, progress=progress)
                    finally:
                        await driver.stop()
                    await _histories(results, env.client, codec_client)
            finally:
                await externals.stop()
                results.externals_received = externals.received
        finally:
            await env.shutdown()
    return results


def deliveries() -> float:
    """Submissions this process has delivered (or found delivered) since it started."""
    from onestop.engine import metrics

    return sum(sample.value for family in metrics.DELIVERIES.collect() for sample in family.samples
               if sample.name.endswith("_total") and sample.labels["outcome"] in ("delivered", "duplicate"))


async def delivered(engine: Engine, target: float, within: float = 60.0) -> None:
    """Wait until ``target`` submissions are delivered and no notice is being sent."""
    deadline = time.monotonic() + within
    while deliveries() < target or engine.notices._sending:
        if time.monotonic() > deadline:
            raise BenchError(f"{target - deliveries():.0f} submissions were not delivered within {within:.0f}s")
        await asyncio.sleep(0.02)


async def _histories(results: Results, client: Client, codec_client: Client) -> None:
    sample_onestop = results.onestop_ids[:HISTORY_SAMPLES]
    sample_baseline = results.baseline_ids[:HISTORY_SAMPLES]
    for workflow_id in sample_onestop:
        await settled(codec_client, workflow_id, _delivered)
    for workflow_id in sample_baseline:
        await settled(client, workflow_id, _completed)
    results.onestop_history = await history_figures(codec_client, sample_onestop)
    results.baseline_history = await history_figures(client, sample_baseline)


async def _rounds(results: Results, driver: Driver, engine: Engine, externals: Externals, client: Client,
                  baseline_queue: str, *, warmup: bool, progress: bool) -> None:
    citizens, pid, outside = results.citizens, driver.process.pid, externals.process.pid

    async def onestop(count: int, samples: Samples) -> tuple[float, list[str], float]:
        # The round ends when its last application is delivered and its notices sent, not at the last response:
        # the delivery activity and the receipt mail run after the submit answers, and are the round's CPU (they
        # would fall into the next round's figures, the baseline's every other round).
        before = deliveries()
        answer = await driver.round(count, samples)
        await delivered(engine, before + count)
        return answer

    async def baseline(count: int, samples: Samples) -> tuple[float, list[str], float]:
        rate, ids = await baseline_round(client, baseline_queue, count, samples)
        return rate, ids, 0.0

    if warmup:  # first-use costs (imports, sandbox, SQLite pages) stay out of the figures
        await onestop(2, Samples())
        await baseline(2, Samples())
    for number in range(results.rounds):
        # Alternate which side goes first so drift on the machine does not favour one.

        async def measure_onestop() -> None:
            results.onestop_ids = await measured(onestop(citizens, results.onestop_samples),
                                                 results.onestop_rates, results.onestop_cpu, pid, outside)

        async def measure_baseline() -> None:
            results.baseline_ids = await measured(baseline(citizens, results.baseline_samples),
                                                  results.baseline_rates, results.baseline_cpu, pid, outside)

        sides: list[Callable[[], Awaitable[None]]] = [measure_onestop, measure_baseline]
        for side in sides if number % 2 == 0 else reversed(sides):
            await side()
        if progress:
            print(f"round {number + 1}/{results.rounds}: onestop {results.onestop_rates[-1]:.2f} app/s, "
                  f"baseline {results.baseline_rates[-1]:.2f} app/s", flush=True)


def _median_cpu(rounds: Sequence[Cpu]) -> Cpu:
    parts = {part for c in rounds for part in c.threads}
    return Cpu(statistics.median(c.engine for c in rounds), statistics.median(c.server for c in rounds),
               statistics.median(c.driver for c in rounds), statistics.median(c.externals for c in rounds),
               {part: statistics.median(c.threads.get(part, 0.0) for c in rounds) for part in sorted(parts)})


ACTION_NAMES = (*ACTIONS[:5], "face token (dev IdP)", *ACTIONS[5:])


def figures(results: Results) -> dict[str, Any]:
    """Everything the report prints, as plain data (``--json``)."""
    ours, theirs = results.onestop_history, results.baseline_history
    if ours is None or theirs is None:
        raise BenchError("no history figures were collected")
    onestop = statistics.median(results.onestop_rates)
    baseline = statistics.median(results.baseline_rates)
    ours_cpu, base_cpu = _median_cpu(results.onestop_cpu), _median_cpu(results.baseline_cpu)

    def latency(samples: Samples) -> dict[str, dict[str, float]]:
        return {name: {"p50_ms": percentile(v, 0.5) * 1000, "p95_ms": percentile(v, 0.95) * 1000}
                for name in ACTION_NAMES if (v := samples.latencies.get(name))}

    def history(h: HistoryFigures) -> dict[str, Any]:
        return {"events": h.events, "payload_bytes": h.payload_bytes, "updates": h.updates,
                "activities": h.activities, "local_activities": h.local_activities,
                "payload_bytes_by_event": h.payload_by_event}

    return {
        "citizens": results.citizens, "rounds": results.rounds, "persist": results.persist,
        "event_loop": results.loop,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "applications_per_second": {"onestop": onestop, "baseline": baseline,
                                    "onestop_rounds": results.onestop_rates,
                                    "baseline_rounds": results.baseline_rates},
        "ratio": onestop / baseline,
        "cpu_ms_per_application": {
            "onestop": {"engine": ours_cpu.engine, "engine_by_thread": ours_cpu.threads,
                        "temporal_server": ours_cpu.server, "load_driver": ours_cpu.driver,
                        "simulated_externals": ours_cpu.externals},
            "baseline": {"worker_and_client": base_cpu.engine, "temporal_server": base_cpu.server},
        },
        "engine_cpu_ratio": ours_cpu.engine / base_cpu.engine,
        "simulated_externals_received": results.externals_received,
        "latency": {"onestop": latency(results.onestop_samples), "baseline": latency(results.baseline_samples)},
        "history": {"onestop": history(ours), "baseline": history(theirs),
                    "events_ratio": ours.events / theirs.events},
    }


def report(results: Results) -> None:
    data = figures(results)
    rates, cpu, history = data["applications_per_second"], data["cpu_ms_per_application"], data["history"]
    ours, theirs = history["onestop"], history["baseline"]
    load = data["load_average"]
    print()
    state = "a SQLite file" if results.persist else "memory"
    print(f"{results.citizens} concurrent citizens x {results.rounds} rounds, Temporal state in {state}; medians"
          + (f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs" if load else ""))
    print(f"event loop: {results.loop} (onestop's API and worker and the baseline's worker and client share it)")
    print(f"applications/s: onestop {rates['onestop']:.2f}, baseline {rates['baseline']:.2f}")
    print(f"ratio onestop/baseline: {data['ratio']:.2f} (aim >= 0.75 in memory, >= 0.85 with --persist)")
    mine, base = cpu["onestop"], cpu["baseline"]
    print(f"CPU ms per application: onestop engine {mine['engine']:.0f} (API + worker), Temporal server "
          f"{mine['temporal_server']:.0f}, load driver {mine['load_driver']:.0f} (its own process), simulated "
          f"externals {mine['simulated_externals']:.0f} (dev IdP, SMTP relay, department endpoint: their own process); "
          f"baseline worker and client {base['worker_and_client']:.0f}, Temporal server {base['temporal_server']:.0f}")
    split = ", ".join(f"{part} {ms:.0f}" for part, ms in mine["engine_by_thread"].items())
    print(f"  onestop engine by thread: {split}")
    print(f"engine CPU ratio onestop/baseline: {data['engine_cpu_ratio']:.2f} (aim <= 1.6)")
    print()
    print(f"{'action':<22} {'onestop p50':>12} {'p95':>9} {'baseline p50':>13} {'p95':>9}   (ms)")
    for name in ACTION_NAMES:
        cells = [f"{figures_[name][q]:.1f}" if name in figures_ else "-"
                 for figures_ in (data["latency"]["onestop"], data["latency"]["baseline"])
                 for q in ("p50_ms", "p95_ms")]
        print(f"{name:<22} {cells[0]:>12} {cells[1]:>9} {cells[2]:>13} {cells[3]:>9}")
    print()
    actions = len(ACTIONS)
    print(f"history events per application: onestop {ours['events']:.0f}, baseline {theirs['events']:.0f} "
          f"(x{history['events_ratio']:.2f}, aim <= x1.1; median of {HISTORY_SAMPLES} finished workflows)")
    print(f"payload bytes per application: onestop {ours['payload_bytes']:.0f}, baseline "
          f"{theirs['payload_bytes']:.0f} (aim <= 6000)")
    print(f"citizen actions per application: {actions} (updates in history: onestop {ours['updates']:.0f}, "
          f"baseline {theirs['updates']:.0f})")
    print(f"activities per application: onestop {ours['activities']:.0f} + {ours['local_activities']:.0f} local, "
          f"baseline {theirs['activities']:.0f}")
    largest = ", ".join(f"{name} {size:.0f}" for name, size in list(ours["payload_bytes_by_event"].items())[:4])
    print(f"onestop payload bytes by event type: {largest}")


def cache_baseline_bytecode(scratch: Path) -> None:
    """Write bench/baseline.py's bytecode where imports look for it, whatever PYTHONDONTWRITEBYTECODE says.

    The baseline's workflow sandbox re-imports that module for every workflow it starts. Without its bytecode
    each of those imports compiles the module from source, which no deployed worker does: its bytecode is cached,
    or written on its first import. (Onestop's modules are imported once per process, so they need no such help.)
    When the bench directory cannot be written, the bytecode of every import goes under ``scratch`` instead."""
    import importlib.util
    import py_compile

    source = Path(__file__).resolve().parent / "baseline.py"
    try:
        py_compile.compile(str(source), doraise=True)
    except OSError:
        sys.pycache_prefix = str(scratch)
        py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--citizens", type=int, default=16, help="concurrent citizens (default 16)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; figures are medians (default 5)")
    parser.add_argument("--persist", action="store_true",
                        help="Temporal state in a SQLite file, as `onestop serve` runs it (default: in memory)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write every figure to PATH as JSON (stdout carries the dev server's banner)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default=None,
                        help="the event loop both sides run on (default: the one `onestop serve` runs on, "
                             "ONESTOP_EVENT_LOOP: uvloop where installed)")
    parser.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)  # the load driver process (Driver)
    parser.add_argument("--idp", metavar="URL", help=argparse.SUPPRESS)  # the dev IdP the driver signs in at
    parser.add_argument("--externals", type=Path, metavar="DIR", help=argparse.SUPPRESS)  # Externals' process
    args = parser.parse_args(argv)
    if args.citizens < 1 or args.rounds < 1:
        parser.error("--citizens and --rounds must be at least 1")
    sys.path.insert(0, str(repo_root()))
    from onestop.config import EventLoop, Settings
    from onestop.runtime import StartupError, loop_factory, run_on_loop

    try:
        loop = EventLoop(args.loop) if args.loop else Settings().event_loop
        loop = EventLoop.ASYNCIO if loop_factory(loop) is None else EventLoop.UVLOOP
    except StartupError as exc:
        parser.error(str(exc))
    if args.drive:
        with contextlib.suppress(KeyboardInterrupt):
            run_on_loop(lambda: drive(args.drive, args.citizens, args.idp), loop)
        return 0
    if args.externals:
        with contextlib.suppress(KeyboardInterrupt):
            run_on_loop(lambda: serve_externals(args.externals), loop)
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="onestop-bench-pycache-") as pycache:
            cache_baseline_bytecode(Path(pycache))
            results = run_on_loop(lambda: run(args.citizens, args.rounds, persist=args.persist), loop)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; everything was shut down", file=sys.stderr)
        return 130
    report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(figures(results), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
