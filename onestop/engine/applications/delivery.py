"""Getting a submission to its department exactly once, plus reference numbers.

The SQL inbox insert is keyed on the application id, so a retried activity finds its own row instead of
adding a second. The HTTP channel sends the same ``Idempotency-Key`` on every attempt; receivers dedupe on it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Integer, String, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database, InboxRow, ReferenceRow, utcnow
from onestop.engine.db.prepared import Executor, insert_for, prepared, table_of, write_alone
from onestop.engine.errors import EngineError


class DeliveryFailed(EngineError):
    """The department endpoint refused a submission for a reason a retry cannot fix."""

    code = "DELIVERY_FAILED"


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


async def deliver_http(client: httpx.AsyncClient, url: str, *, application_id: str, jws: str,
                       files: Mapping[str, bytes] | None = None) -> bool:
    """POST the signed submission; retryable failures raise ``httpx.HTTPError`` so the activity retries.

    ``files``: the attached documents' content by id (base64), each checkable against the SHA-256 in the JWS.
    """
    body: dict[str, object] = {"applicationId": application_id, "jws": jws}
    if files:
        body["documents"] = {key: base64.b64encode(content).decode() for key, content in files.items()}
    response = await client.post(
        url,
        content=json.dumps(body),
        headers={"Content-Type": "application/json", "Idempotency-Key": application_id},
        follow_redirects=False,
    )
    if response.status_code in (200, 201, 202, 204):
        return True
    if response.status_code == 409:  # the receiver already has it under this idempotency key
        return False
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        response.raise_for_status()
    raise DeliveryFailed(None, f"department endpoint answered HTTP {response.status_code}; check its configuration")


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
