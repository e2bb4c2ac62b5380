"""Issue 3 and 4 data protection, from the outside, after one full application with prefill and face step-up:

(a) Temporal's raw history (read without the payload codec) holds none of the citizen's personal data;
(b) nothing logged while the application ran, at DEBUG for every logger, holds any of it;
(c) another citizen's answers about it are identical to the answers about things that do not exist;
(d) no column of any table holds it, even after base64url-decoding and JSON-parsing what is stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from client import STANDARD
from google.protobuf.json_format import MessageToJson

from onestop.engine.db import Base
from onestop.engine.logs import ContextFilter, JsonFormatter
from onestop.graphql.relay import from_global_id, to_global_id

from .answers import drive
from .conftest import CONSENTS, DECIDE, GET, GRANT, NODE, REVOKE, START, SUBMIT, System

pytestmark = pytest.mark.slow

CITIZEN = "wong-ka-fai"
STRANGER = "lee-mei-ling"
SLUG = "renew-driving-licence"
LOCAL_ACTIVITY_META = ".marker_recorded_event_attributes.details[data]"
PATCH_META = ".marker_recorded_event_attributes.details[patch-data]"  # workflow.patched(): the patch id only


def personal_strings(definitions: Path, citizen_id: str) -> list[str]:
    """The test citizen's identifying strings, in the forms they could leak in."""
    citizens = yaml.safe_load((definitions / "dev" / "citizens.yaml").read_text(encoding="utf-8"))["citizens"]
    profile = next(c for c in citizens if c["id"] == citizen_id)["profile"]
    hkid = profile["hkid"]
    phone = re.sub(r"\D", "", profile["phone"]).removeprefix("852")
    address = profile["residentialAddress"]
    strings = [profile["nameEn"], profile["nameEn"].replace(",", ""), profile["nameZh"],
               hkid, hkid[:-3], re.sub(r"\W", "", hkid), phone, f"{phone[:4]} {phone[4:]}", profile["email"],
               address["building"], address["street"]]
    # JSON encoders may escape non-ASCII text
    strings += [json.dumps(s)[1:-1] for s in strings if not s.isascii()]
    return strings


class Captured(logging.Handler):
    """Every record, and the JSON line production writes for it (formatted at emit time: its request id,
    trace id and operation come from the context the record was logged in)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.json_lines: list[str] = []
        self.context = ContextFilter()
        self.json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.context.filter(record)
        self.records.append(record)
        self.json_lines.append(self.json.format(record))

    def texts(self) -> Iterator[str]:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in self.records:
            yield formatter.format(record)
            yield repr(record.__dict__)
        yield from self.json_lines


@dataclass
class Finished:
    application_id: str
    consent_id: str
    records: Captured
    strings: list[str]


@pytest.fixture(scope="module")
async def finished(system: System, definitions_dir: Path) -> AsyncIterator[Finished]:
    handler = Captured()
    loggers = [logging.getLogger(), logging.getLogger("temporalio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        api = system.api
        headers = await api.token({"citizen": CITIZEN, "acr": STANDARD})
        # bad input that carries personal data goes through the logs' paths too
        app = (await api.data(START, {"slug": SLUG, "cmid": uuid.uuid4().hex}, headers))["startApplication"]
        app_id = app["application"]["id"]
        app = (await api.data(GRANT, {"id": app_id, "step": "your-details"}, headers))["grantConsent"]
        refused = (await api.data(SUBMIT, {"id": app_id, "step": "licence", "answers": {
            "hkid": "K305518(4)", "phone": "6234 567", "applicantName": "WONG, Ka Fai" * 20}}, headers))["submitStep"]
        assert {e["code"] for e in refused["userErrors"]} >= {"INVALID_HKID", "INVALID_PHONE"}
        wrong_face = next(c for c in await api.citizens() if c["id"] == CITIZEN)["faceSamples"]["mismatch"]
        response = await api.client.post("/dev-idp/token", json={"citizen": CITIZEN, "acr": "urn:onestop:acr:face",
                                                                 "selfie": wrong_face})
        assert response.status_code == 403

        run = await drive(api, SLUG, CITIZEN, datetime.now(UTC).date())
        assert run.application["status"] == "SUBMITTED"
        # a department decision travels as a signal: its payload must be encrypted too
        officer = await api.token({"staff": "td-officer"})
        decided = (await api.data(DECIDE, {"id": run.application["id"], "status": "NEEDS_INFO",
                                           "message": "Please upload a photo"}, officer))["updateApplicationStatus"]
        assert decided["userErrors"] == []
        consents = (await api.data(CONSENTS, {}, headers))["viewer"]["consents"]
        key = from_global_id(run.application["id"])
        assert key is not None
        consent = next(c for c in consents if c["applicationId"] in (key[1], run.application["id"]))
        yield Finished(run.application["id"], consent["id"], handler,
                       personal_strings(definitions_dir, CITIZEN))
    finally:
        logging.getLogger().removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def test_the_personal_strings_are_real(finished: Finished) -> None:
    # the prefilled application holds them, so their absence below means something
    assert "K305518(3)" in finished.strings
    assert "黃家輝" in finished.strings


async def test_the_citizen_sees_their_data_in_the_application(system: System, finished: Finished) -> None:
    headers = await system.api.token({"citizen": CITIZEN, "acr": STANDARD})
    app = (await system.api.data(GET, {"id": finished.application_id}, headers))["application"]
    flat = json.dumps(app["answers"], ensure_ascii=False)
    assert "K305518(3)" in flat
    assert "Laguna City" in flat


async def test_temporal_history_without_the_codec_holds_no_personal_data(system: System,
                                                                         finished: Finished) -> None:
    raw = system.raw_client
    scanned = signals = 0
    async for execution in raw.list_workflows():
        for text in [execution.id, repr(execution.search_attributes), repr(execution.typed_search_attributes)]:
            _assert_clean(text, finished.strings, f"workflow {execution.id} id/search attributes")
        handle = raw.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            scanned += 1
            blob = event.SerializeToString()
            _assert_clean(blob.decode("utf-8", errors="replace"), finished.strings, f"{execution.id} event")
            _assert_clean(MessageToJson(event), finished.strings, f"{execution.id} event (JSON)")
            signals += event.HasField("workflow_execution_signaled_event_attributes")
            for where, payload in _payloads(event):
                if ".search_attributes." in where or where.startswith((LOCAL_ACTIVITY_META, PATCH_META)):
                    # Temporal must read search attributes; a local activity marker's `data` and a patch marker's
                    # `patch-data` are the SDK's own bookkeeping (type, attempt, times; the patch id). All are still
                    # searched for personal data above.
                    continue
                encoding = payload.metadata.get("encoding", b"").decode()
                assert encoding not in ("json/plain", "json/protobuf"), (
                    f"{execution.id} event {event.event_id} {where}: a {encoding} payload went to Temporal "
                    f"unencrypted: {payload.data[:200]!r}")
        description = await handle.describe()
        _assert_clean(repr(description.raw_description), finished.strings, f"{execution.id} description")
    assert scanned > 20, "the finished application's history should have been read"
    assert signals, "the department's decision should be in a history as a signal"


def test_logs_at_debug_hold_no_personal_data(finished: Finished) -> None:
    records = list(finished.records.texts())
    assert len(records) > 10, "DEBUG logging should have captured the run"
    for text in records:
        _assert_clean(text, finished.strings, "a log record")


def test_json_log_lines_carry_request_and_operation_and_no_personal_data(finished: Finished) -> None:
    lines = [json.loads(line) for line in finished.records.json_lines]
    assert len(lines) > 10
    for line in lines:
        _assert_clean(json.dumps(line, ensure_ascii=False), finished.strings, "a JSON log line")
        _assert_clean(json.dumps(line), finished.strings, "a JSON log line (ASCII)")
    # lines logged while the API answered a mutation name it and its request, never the client's operation name
    in_requests = [line for line in lines if line["request_id"] != "-"]
    assert in_requests, "some lines were logged inside HTTP requests"
    assert {line["operation"] for line in in_requests} & {"mutation startApplication", "mutation submitStep"}


async def test_another_citizen_gets_not_found_for_the_application(system: System, finished: Finished) -> None:
    api = system.api
    stranger = await api.token({"citizen": STRANGER, "acr": STANDARD})
    missing = to_global_id("Application", f"app-{uuid.uuid4().hex}")
    for query in (GET, NODE):
        theirs = await api.post(query, {"id": finished.application_id}, stranger)
        nothing = await api.post(query, {"id": missing}, stranger)
        assert theirs == nothing
        assert list(theirs["data"].values()) == [None]
    actions: list[tuple[str, str, dict[str, Any]]] = [(GRANT, "grantConsent", {"step": "your-details"}),
                                                      (SUBMIT, "submitStep", {"step": "licence", "answers": {}})]
    for query, name, extra in actions:
        theirs = await api.post(query, {"id": finished.application_id} | extra, stranger)
        nothing = await api.post(query, {"id": missing} | extra, stranger)
        assert _without(theirs, finished.application_id) == _without(nothing, missing), name
        assert theirs["data"][name]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_another_citizen_cannot_revoke_the_consent_and_learns_nothing(system: System,
                                                                            finished: Finished) -> None:
    api = system.api
    stranger = await api.token({"citizen": STRANGER, "acr": STANDARD})
    parsed = from_global_id(finished.consent_id)
    assert parsed is not None
    missing_key = str(uuid.uuid4())
    missing = to_global_id("Consent", missing_key)
    theirs = await api.post(REVOKE, {"id": finished.consent_id}, stranger)
    nothing = await api.post(REVOKE, {"id": missing}, stranger)
    assert _without(theirs, finished.consent_id, parsed[1]) == _without(nothing, missing, missing_key)
    assert theirs["data"]["revokeConsent"]["consent"] is None
    assert theirs["data"]["revokeConsent"]["userErrors"][0]["code"] == "NOT_FOUND"
    by_artefact = await api.post(REVOKE, {"id": parsed[1]}, stranger)
    nothing = await api.post(REVOKE, {"id": missing_key}, stranger)
    assert _without(by_artefact, parsed[1]) == _without(nothing, missing_key)

    owner = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    consents = (await api.data(CONSENTS, {}, owner))["viewer"]["consents"]
    assert next(c for c in consents if c["id"] == finished.consent_id)["status"] == "ACTIVE"


async def test_no_column_of_any_table_holds_personal_data_even_once_decoded(system: System,
                                                                            finished: Finished) -> None:
    key = from_global_id(finished.application_id)
    assert key is not None
    database = system.engine.database
    async with database.engine.connect() as conn:
        for _ in range(100):  # delivery to the inbox runs as an activity after the submit answered
            delivered = await conn.scalar(sa.text("SELECT count(*) FROM department_inbox WHERE application_id = :id"),
                                          {"id": key[1]})
            await conn.commit()
            if delivered:
                break
            await asyncio.sleep(0.1)
        assert delivered == 1, "the submission should have reached the department inbox"
        tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
        assert {table.name for table in Base.metadata.sorted_tables} <= tables
        values = 0
        for table in sorted(tables):
            # the names come from the database's own catalogue
            result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))  # noqa: S608
            columns = list(result.keys())
            for row in result.all():
                for column, value in zip(columns, row, strict=True):
                    values += 1
                    for view in _decodings(value):
                        _assert_clean(view, finished.strings, f"{table}.{column}")
    assert values > 100, "the database should hold the finished application and the seed"


_BASE64URL = re.compile(r"[A-Za-z0-9_-]{8,}")


def _decodings(value: Any, depth: int = 0) -> Iterator[str]:
    """A stored value as text, and every reading a person with the database could make of it: base64url
    segments (JWS parts, ciphertexts) decoded, JSON parsed, recursively."""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", errors="replace")
    text_value = value if isinstance(value, str) else repr(value)
    yield text_value
    if depth >= 3 or not isinstance(value, str):
        return
    try:
        parsed = json.loads(value)
    except ValueError:
        pass
    else:
        yield json.dumps(parsed, ensure_ascii=False)
        for nested in _strings_in(parsed):
            yield from _decodings(nested, depth + 1)
    for segment in _BASE64URL.findall(value):
        try:
            decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except ValueError:
            continue
        yield from _decodings(decoded.decode("utf-8", errors="replace"), depth + 1)


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def _assert_clean(text: str, strings: list[str], where: str) -> None:
    for s in strings:
        assert s not in text, f"{where} contains personal data {s!r}: ...{_around(text, s)}..."


def _around(text: str, s: str) -> str:
    at = text.find(s)
    return text[max(0, at - 120):at + len(s) + 120]


def _payloads(message: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every temporal.api.common.v1.Payload inside a protobuf message, with its field path."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            named = [(f"{path}.{descriptor.name}[{key}]", item) for key, item in value.items()]
        elif hasattr(value, "ListFields"):
            named = [(f"{path}.{descriptor.name}", value)]
        else:
            named = [(f"{path}.{descriptor.name}", item) for item in value]
        for where, item in named:
            if not hasattr(item, "ListFields"):
                continue
            if item.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
                yield where, item
            else:
                yield from _payloads(item, where)


def _without(result: dict[str, Any], *ids: str) -> str:
    text = json.dumps(result, sort_keys=True)
    for value in ids:
        text = text.replace(value, "<id>")
    return text
