"""Documents through HTTP and GraphQL against real Temporal, SQLite, clamd and (for S3) moto's server.

A citizen uploads proof of address to `change-of-address`, the file is checked by content, size and a real
ClamAV scan, attached by its id in `submitStep`, delivered with the submission (its SHA-256 signed in), seen by
the department with its scan status, and deleted when its retention ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from client import STANDARD, Api
from document_samples import EICAR
from sqlalchemy import select, update
from temporalio.client import Client

from onestop.engine.applications.delivery import inbox
from onestop.engine.container import Engine
from onestop.engine.db import ApplicationRow, DocumentRow
from onestop.engine.documents import ClamdScanner, NoScanner, S3Store, seal, unseal
from onestop.engine.documents.schedules import ensure_document_schedule, schedule_id
from onestop.workflows.documents import PurgeDocumentsInput, PurgeDocumentsResult, PurgeDocumentsWorkflow

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + b"\x00" * 32
FIELD = "proofOfAddress"

APP = """fragment A on Application { id status referenceNumber
  currentStep { id type fields { id type value accept maxBytes multiple minItems maxItems options { value } } }
  documents { id fieldId name mediaType size sha256 scanStatus submitted } }"""
START = APP + """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { ...A } userErrors { field message code } } }"""
GRANT = APP + """mutation($id: ID!, $step: String!) { grantConsent(input: {applicationId: $id, stepId: $step}) {
  application { ...A } userErrors { field message code } } }"""
SUBMIT = APP + """mutation($id: ID!, $step: String!, $answers: JSON!) { submitStep(input: {applicationId: $id,
  stepId: $step, answers: $answers}) { application { ...A } userErrors { field message code } } }"""
GET = APP + "query($id: ID!) { application(id: $id) { ...A } }"
REMOVE = """mutation($id: ID!) { removeDocument(input: {documentId: $id}) {
  document { id name } userErrors { field message code } } }"""
INBOX = """{ departmentInbox(first: 50) { edges { node { id documents { id name sha256 scanStatus submitted } } } } }"""
DECIDE = """mutation($id: ID!, $status: ApplicationStatus!) { updateApplicationStatus(input: {applicationId: $id,
  status: $status}) { application { status } userErrors { field code message } } }"""


async def upload(api: Api, headers: dict[str, str], app_id: str, content: bytes, name: str = "bill.pdf",
                 field: str = FIELD) -> Any:
    return await api.client.post("/documents", params={"applicationId": app_id, "fieldId": field}, content=content,
                                 headers={**headers, "X-File-Name": quote(name),
                                          "Content-Type": "application/octet-stream"})


@pytest.fixture
async def citizen(api: Api) -> dict[str, str]:
    return await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})


@pytest.fixture
async def draft(api: Api, citizen: dict[str, str]) -> dict[str, Any]:
    """A change-of-address application at its form step, which has the proof-of-address file field."""
    app = (await api.data(START, {"slug": "change-of-address"}, citizen))["startApplication"]["application"]
    app = (await api.data(GRANT, {"id": app["id"], "step": "records"}, citizen))["grantConsent"]["application"]
    assert app["currentStep"]["id"] == "new-address"
    return app


def answers_for(app: dict[str, Any], proof: list[str]) -> dict[str, Any]:
    fields = {f["id"]: f for f in app["currentStep"]["fields"]}
    district = fields["newAddress"]["options"][0]["value"]
    return {"oldAddress": fields["oldAddress"]["value"],
            "newAddress": {"flat": "12A", "building": "Harbour View", "street": "1 Harbour Road",
                           "district": district, "region": "HK"},
            "movedOn": date.today().isoformat(), "sameForCorrespondence": "yes", "notify": ["IRD"],
            FIELD: proof}


async def test_the_file_field_tells_the_frontend_what_it_accepts(draft: dict[str, Any]) -> None:
    field = next(f for f in draft["currentStep"]["fields"] if f["id"] == FIELD)
    assert field["type"] == "file"
    assert field["accept"] == ["application/pdf", "image/jpeg", "image/png"]
    assert (field["maxBytes"], field["multiple"], field["minItems"], field["maxItems"]) == (5 * 1024 * 1024, True,
                                                                                          1, 3)


async def test_a_citizen_uploads_scans_and_submits_and_the_department_receives_the_files(
        api: Api, engine: Engine, citizen: dict[str, str], draft: dict[str, Any]) -> None:
    app_id = draft["id"]
    bill = await upload(api, citizen, app_id, PDF, "電費單 March.pdf")
    assert bill.status_code == 201, bill.text
    document = bill.json()["document"]
    assert (document["name"], document["mediaType"], document["size"], document["scanStatus"]) == (
        "電費單 March.pdf", "application/pdf", len(PDF), "CLEAN")
    assert document["sha256"] == hashlib.sha256(PDF).hexdigest()
    photo = (await upload(api, citizen, app_id, PNG, "lease.png")).json()["document"]
    spare = (await upload(api, citizen, app_id, PDF, "spare.pdf")).json()["document"]

    # Nothing of a file is stored in clear: the store holds sealed bytes, the name column ciphertext.
    blob = await engine.documents.store.get(document["id"])
    assert blob is not None
    assert PDF not in blob
    assert blob.startswith(b"OSDOC1")
    async with engine.database.session() as session:
        row = await session.get(DocumentRow, document["id"])
        assert row is not None
        assert "March" not in row.name

    listed = (await api.data(GET, {"id": app_id}, citizen))["application"]["documents"]
    assert [d["name"] for d in listed] == ["電費單 March.pdf", "lease.png", "spare.pdf"]
    assert {d["scanStatus"] for d in listed} == {"CLEAN"}
    removed = (await api.data(REMOVE, {"id": spare["id"]}, citizen))["removeDocument"]
    assert removed["userErrors"] == []
    assert removed["document"]["name"] == "spare.pdf"
    assert await engine.documents.store.get(spare["id"]) is None

    app = (await api.data(SUBMIT, {"id": app_id, "step": "new-address",
                                   "answers": answers_for(draft, [document["id"], photo["id"]])}, citizen)
           )["submitStep"]
    assert app["userErrors"] == []
    attached = (await api.data(REMOVE, {"id": photo["id"]}, citizen))["removeDocument"]
    assert [e["code"] for e in attached["userErrors"]] == ["DOCUMENT_ATTACHED"]
    app = (await api.data(SUBMIT, {"id": app_id, "step": "check", "answers": {"declaration": True}}, citizen)
           )["submitStep"]["application"]
    app = (await api.data(SUBMIT, {"id": app_id, "step": "send", "answers": {}}, citizen))["submitStep"]["application"]
    assert app["status"] == "SUBMITTED"

    key = app_id
    from onestop.graphql.relay import from_global_id

    parsed = from_global_id(key)
    assert parsed is not None
    for _ in range(100):
        delivered = [item for item in await inbox(engine.database, engine.data.cipher, "DPO")
                     if item.application_id == parsed[1]]
        if delivered:
            break
        await asyncio.sleep(0.1)
    payload = engine.data.signer.verify_submission(delivered[0].jws)
    assert [(d["name"], d["sha256"], d["scanStatus"]) for d in payload["documents"]] == [
        ("電費單 March.pdf", hashlib.sha256(PDF).hexdigest(), "CLEAN"), ("lease.png", hashlib.sha256(PNG).hexdigest(),
                                                                       "CLEAN")]
    assert payload["answers"][FIELD] == [document["id"], photo["id"]]

    officer = await api.token({"staff": "dpo-officer"})
    seen = next(e["node"] for e in (await api.data(INBOX, headers=officer))["departmentInbox"]["edges"]
                if e["node"]["id"] == app_id)
    assert [(d["name"], d["scanStatus"], d["submitted"]) for d in seen["documents"]] == [
        ("電費單 March.pdf", "CLEAN", True), ("lease.png", "CLEAN", True)]
    downloaded = await api.client.get(f"/documents/{document['id']}", headers=officer)
    assert downloaded.status_code == 200
    assert downloaded.content == PDF
    assert downloaded.headers["content-type"] == "application/pdf"
    other_department = await api.token({"staff": "td-officer"})
    assert (await api.client.get(f"/documents/{document['id']}", headers=other_department)).status_code == 404

    late = (await api.data(REMOVE, {"id": document["id"]}, citizen))["removeDocument"]
    assert [e["code"] for e in late["userErrors"]] == ["NOT_A_DRAFT"]
    again = await upload(api, citizen, app_id, PDF)
    assert again.status_code == 422
    assert again.json()["userErrors"][0]["code"] == "NOT_A_DRAFT"


async def test_a_file_whose_content_is_not_an_accepted_kind_is_refused_whatever_its_name(
        api: Api, citizen: dict[str, str], draft: dict[str, Any]) -> None:
    refused = await upload(api, citizen, draft["id"], b"MZ\x90\x00 this is a program, not a bill", "bill.pdf")
    assert refused.status_code == 415
    [error] = refused.json()["userErrors"]
    assert error["code"] == "FILE_TYPE_NOT_ACCEPTED"
    assert "upload PDF, JPEG, PNG" in error["message"]
    gif = await upload(api, citizen, draft["id"], b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "bill.png")
    assert gif.json()["userErrors"][0]["message"].startswith("This file's content is a GIF file")


async def test_an_oversized_file_is_refused_while_it_streams(api: Api, citizen: dict[str, str],
                                                             draft: dict[str, Any]) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while reading
        nonlocal sent
        yield PDF
        for _ in range(200):
            sent += 64 * 1024
            yield b"\x00" * (64 * 1024)

    refused = await api.client.post("/documents", params={"applicationId": draft["id"], "fieldId": FIELD},
                                    content=body(), headers={**citizen, "X-File-Name": "scan.pdf"})
    assert refused.status_code == 413
    [error] = refused.json()["userErrors"]
    assert (error["code"], error["field"]) == ("FILE_TOO_LARGE", ["upload", "file"])
    assert "larger than 5MB" in error["message"]
    declared = await upload(api, citizen, draft["id"], PDF + b"\x00" * (5 * 1024 * 1024))
    assert declared.status_code == 413


async def test_the_eicar_test_file_is_refused_by_the_virus_scan(api: Api, engine: Engine, citizen: dict[str, str],
                                                                draft: dict[str, Any]) -> None:
    refused = await upload(api, citizen, draft["id"], b"%PDF-1.4\n" + EICAR + b"\n%%EOF\n", "infected.pdf")
    assert refused.status_code == 422
    [error] = refused.json()["userErrors"]
    assert error["code"] == "FILE_INFECTED"
    assert "malware" in error["message"]
    assert (await api.data(GET, {"id": draft["id"]}, citizen))["application"]["documents"] == []


async def test_another_citizens_document_can_be_neither_attached_nor_read_nor_removed(
        api: Api, citizen: dict[str, str], draft: dict[str, Any]) -> None:
    mine = (await upload(api, citizen, draft["id"], PDF, "private.pdf")).json()["document"]
    stranger = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    theirs = (await api.data(START, {"slug": "change-of-address"}, stranger))["startApplication"]["application"]
    theirs = (await api.data(GRANT, {"id": theirs["id"], "step": "records"}, stranger))["grantConsent"]["application"]
    attached = (await api.data(SUBMIT, {"id": theirs["id"], "step": "new-address",
                                        "answers": answers_for(theirs, [mine["id"]])}, stranger))["submitStep"]
    assert attached["application"] is None
    [error] = attached["userErrors"]
    assert (error["field"], error["code"]) == (["input", "answers", FIELD], "DOCUMENT_NOT_FOUND")
    assert "private.pdf" not in error["message"]
    unknown = f"doc-{uuid.uuid4().hex}"
    never = (await api.data(SUBMIT, {"id": theirs["id"], "step": "new-address",
                                     "answers": answers_for(theirs, [unknown])}, stranger))["submitStep"]
    # Someone else's id and an id that never existed are refused alike: nothing tells them apart.
    assert never["userErrors"][0]["message"].replace(unknown, "X") == error["message"].replace(mine["id"], "X")
    read = await api.client.get(f"/documents/{mine['id']}", headers=stranger)
    assert read.status_code == 404
    assert b"private" not in read.content
    removed = (await api.data(REMOVE, {"id": mine["id"]}, stranger))["removeDocument"]
    assert [e["code"] for e in removed["userErrors"]] == ["DOCUMENT_NOT_FOUND"]
    upload_to_mine = await upload(api, stranger, draft["id"], PDF)
    assert upload_to_mine.status_code == 404
    assert (await api.client.get(f"/documents/{mine['id']}", headers=citizen)).content == PDF


async def test_uploads_need_a_citizen_token(api: Api, draft: dict[str, Any]) -> None:
    anonymous = await api.client.post("/documents", params={"applicationId": draft["id"], "fieldId": FIELD},
                                      content=PDF)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    officer = await api.token({"staff": "dpo-officer"})
    assert (await upload(api, officer, draft["id"], PDF)).status_code == 403


async def test_a_field_that_is_not_a_file_field_and_too_many_files_are_refused(
        api: Api, citizen: dict[str, str], draft: dict[str, Any]) -> None:
    wrong = await upload(api, citizen, draft["id"], PDF, field="movedOn")
    assert wrong.json()["userErrors"][0]["code"] == "UNKNOWN_FIELD"
    for _ in range(3):
        assert (await upload(api, citizen, draft["id"], PDF)).status_code == 201
    fourth = await upload(api, citizen, draft["id"], PDF)
    assert fourth.json()["userErrors"][0]["code"] == "TOO_MANY"


async def test_without_a_scanner_documents_are_marked_not_scanned_for_the_department(
        api: Api, engine: Engine, citizen: dict[str, str], draft: dict[str, Any]) -> None:
    scanner = engine.documents.scanner
    engine.documents.scanner = NoScanner()
    try:
        stored = await upload(api, citizen, draft["id"], PNG, "photo.png")
    finally:
        engine.documents.scanner = scanner
    assert stored.json()["document"]["scanStatus"] == "NOT_SCANNED"
    listed = (await api.data(GET, {"id": draft["id"]}, citizen))["application"]["documents"]
    assert [d["scanStatus"] for d in listed] == ["NOT_SCANNED"]


async def test_retention_deletes_the_files_after_the_decision(api: Api, engine: Engine,
                                                              running: tuple[Engine, Client],
                                                              citizen: dict[str, str], draft: dict[str, Any]) -> None:
    app_id = draft["id"]
    proof = (await upload(api, citizen, app_id, PDF)).json()["document"]
    unused = (await upload(api, citizen, app_id, PNG)).json()["document"]
    await api.data(SUBMIT, {"id": app_id, "step": "new-address", "answers": answers_for(draft, [proof["id"]])},
                   citizen)
    await api.data(SUBMIT, {"id": app_id, "step": "check", "answers": {"declaration": True}}, citizen)
    app = (await api.data(SUBMIT, {"id": app_id, "step": "send", "answers": {}}, citizen))["submitStep"]["application"]
    assert app["status"] == "SUBMITTED"
    for _ in range(100):  # delivery runs just after the submit; it deletes what was uploaded but not attached
        if await engine.documents.store.get(unused["id"]) is None:
            break
        await asyncio.sleep(0.1)
    assert await engine.documents.store.get(unused["id"]) is None
    supervisor = await api.token({"staff": "dpo-supervisor"})
    decided = (await api.data(DECIDE, {"id": app_id, "status": "APPROVED"}, supervisor))["updateApplicationStatus"]
    assert decided["userErrors"] == []
    async with engine.database.session() as session:
        row = await session.get(DocumentRow, proof["id"])
        assert row is not None
        assert row.delete_after is not None
        assert timedelta(days=89) < row.delete_after - datetime.now(UTC) <= timedelta(days=90)  # the definition's 90

    client = running[1]
    task_queue = engine.settings.temporal_task_queue
    nothing_due: PurgeDocumentsResult = await client.execute_workflow(
        PurgeDocumentsWorkflow.run, PurgeDocumentsInput(), id=f"purge-{uuid.uuid4()}", task_queue=task_queue)
    assert nothing_due.deleted == 0
    async with engine.database.session() as session:  # 90 days pass
        await session.execute(update(DocumentRow).where(DocumentRow.id == proof["id"])
                              .values(delete_after=datetime.now(UTC) - timedelta(seconds=1)))
    purged: PurgeDocumentsResult = await client.execute_workflow(
        PurgeDocumentsWorkflow.run, PurgeDocumentsInput(), id=f"purge-{uuid.uuid4()}", task_queue=task_queue)
    assert purged.deleted == 1
    assert await engine.documents.store.get(proof["id"]) is None
    officer = await api.token({"staff": "dpo-officer"})
    assert (await api.client.get(f"/documents/{proof['id']}", headers=officer)).status_code == 404
    async with engine.database.session() as session:  # the record keeps the hash the signed submission names
        kept = (await session.scalars(select(DocumentRow).where(DocumentRow.id == proof["id"]))).one()
        assert kept.deleted_at is not None
        assert kept.sha256 == hashlib.sha256(PDF).hexdigest()

    assert await ensure_document_schedule(client, task_queue) is True
    assert await ensure_document_schedule(client, task_queue) is False  # idempotent: updated, not doubled
    described = await client.get_schedule_handle(schedule_id(task_queue)).describe()
    assert described.schedule.spec.intervals[0].every == timedelta(hours=1)
    await client.get_schedule_handle(schedule_id(task_queue)).delete()


async def test_the_s3_store_round_trips_sealed_content_through_a_real_s3_api(s3_endpoint: str,
                                                                             engine: Engine) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="onestop-documents")
    store = S3Store("onestop-documents", endpoint_url=s3_endpoint, access_key="test", secret_key="test")
    document_id = f"doc-{uuid.uuid4().hex}"
    await store.put(document_id, seal(engine.data.cipher.ring, document_id, PDF))
    raw = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test").get_object(Bucket="onestop-documents",
                                                                Key=f"documents/{document_id}")["Body"].read()
    assert PDF not in raw  # the bucket only ever holds ciphertext
    blob = await store.get(document_id)
    assert blob is not None
    assert unseal(engine.data.cipher.ring, document_id, blob) == PDF
    await store.delete(document_id)
    assert await store.get(document_id) is None


async def test_uploads_and_downloads_work_over_the_s3_store(s3_endpoint: str, api: Api, engine: Engine,
                                                          citizen: dict[str, str], draft: dict[str, Any]) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="onestop-uploads")
    local = engine.documents.store
    engine.documents.store = S3Store("onestop-uploads", endpoint_url=s3_endpoint, access_key="test",
                                     secret_key="test")
    try:
        stored = (await upload(api, citizen, draft["id"], PNG, "s3.png")).json()["document"]
        assert (await api.client.get(f"/documents/{stored['id']}", headers=citizen)).content == PNG
        assert await local.get(stored["id"]) is None
    finally:
        engine.documents.store = local


async def test_a_scanner_that_cannot_be_reached_refuses_the_upload_and_stores_nothing(
        api: Api, engine: Engine, citizen: dict[str, str], draft: dict[str, Any], tmp_path: Path) -> None:
    scanner = engine.documents.scanner
    engine.documents.scanner = ClamdScanner(f"unix:{tmp_path / 'no-clamd.sock'}", timeout=2)
    try:
        refused = await upload(api, citizen, draft["id"], PDF)
    finally:
        engine.documents.scanner = scanner
    assert refused.status_code == 503
    assert refused.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert (await api.data(GET, {"id": draft["id"]}, citizen))["application"]["documents"] == []


WITHDRAW = """mutation($id: ID!) { withdrawApplication(input: {applicationId: $id}) {
  application { status } userErrors { code } } }"""


async def _purge(engine: Engine, client: Client) -> int:
    result: PurgeDocumentsResult = await client.execute_workflow(
        PurgeDocumentsWorkflow.run, PurgeDocumentsInput(), id=f"purge-{uuid.uuid4()}",
        task_queue=engine.settings.temporal_task_queue)
    return result.deleted


async def test_files_of_a_withdrawn_or_expired_draft_are_deleted_by_the_next_purge(
        api: Api, engine: Engine, running: tuple[Engine, Client], citizen: dict[str, str],
        draft: dict[str, Any]) -> None:
    withdrawn = (await upload(api, citizen, draft["id"], PDF)).json()["document"]
    assert (await api.data(WITHDRAW, {"id": draft["id"]}, citizen))["withdrawApplication"]["userErrors"] == []
    other = (await api.data(START, {"slug": "change-of-address"}, citizen))["startApplication"]["application"]
    other = (await api.data(GRANT, {"id": other["id"], "step": "records"}, citizen))["grantConsent"]["application"]
    expired = (await upload(api, citizen, other["id"], PNG)).json()["document"]
    async with engine.database.session() as session:  # the draft's durable expiry timer fired (index updated)
        row = await session.get(DocumentRow, expired["id"])
        assert row is not None
        await session.execute(update(ApplicationRow).where(ApplicationRow.application_id == row.application_id)
                              .values(status="EXPIRED"))
    assert await _purge(engine, running[1]) >= 2
    assert await engine.documents.store.get(withdrawn["id"]) is None
    assert await engine.documents.store.get(expired["id"]) is None


async def test_the_stored_name_is_the_files_own_without_folders_or_control_characters(
        api: Api, citizen: dict[str, str], draft: dict[str, Any]) -> None:
    stored = await api.client.post("/documents", params={"applicationId": draft["id"], "fieldId": FIELD},
                                   content=PDF, headers={**citizen, "X-File-Name": "C%3A%5Cfakepath%5Cbill%00%0A.pdf"})
    assert stored.json()["document"]["name"] == "bill.pdf"
