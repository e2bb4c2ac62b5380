"""``DocumentService``: upload, list, remove, attach, deliver and delete the files citizens give with applications.

A document belongs to one citizen, one application and one file field. Nobody else can read or attach it: every
lookup is by (id, owner), and someone else's id answers exactly like an unknown one.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select, update

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import ApplicationRow, Database, DocumentRow
from onestop.engine.db.prepared import prepared, table_of
from onestop.engine.documents.kinds import SNIFF_BYTES, media_type, sniff
from onestop.engine.documents.scanner import Scanner, ScanStatus
from onestop.engine.documents.stores import DocumentStore, seal, unseal
from onestop.engine.errors import FieldError, Forbidden, InvalidInput, NotFound
from onestop.workflows.contracts import Status
from onestop.workflows.interpreter import DOCUMENT_ID
from onestop.workflows.snapshot import FieldSpec, fields_of

if TYPE_CHECKING:
    from onestop.engine.applications.service import ApplicationService
    from onestop.engine.identity.principal import Principal

NAME_MAX_CHARS = 200
_CLOSED = (Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.EXPIRED, Status.NOT_ELIGIBLE)
LIST_MAX_FILES = 20
"""The most files a ``multiple`` field without ``maxItems`` takes."""


@dataclass(frozen=True)
class Document:
    id: str
    application_id: str
    field_id: str
    name: str
    kind: str
    media_type: str
    size: int
    sha256: str
    scan_status: ScanStatus
    created_at: datetime
    submitted_at: datetime | None
    deleted: bool


def _error(path: Sequence[str], code: str, en: str, tc: str) -> InvalidInput:
    return InvalidInput([FieldError(list(path), code, {"en": en, "tc": tc})])


def _aad(document_id: str) -> str:
    return f"documents.name|{document_id}"


def _clean_name(name: str) -> str:
    """The file's own name: no folders (``C:\\fakepath\\``), control characters or invalid Unicode."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cs")).strip()
    return text[:NAME_MAX_CHARS] or "document"


def _size_text(size: int) -> str:
    return f"{size // (1024 * 1024)}MB" if size % (1024 * 1024) == 0 else f"{size // 1024}KB"


def attached_ids(answers: Mapping[str, Any]) -> dict[str, list[str]]:
    """The document ids each answer gives (a file field's value is an id or a list of ids)."""
    found: dict[str, list[str]] = {}
    for key, value in answers.items():
        ids = value if isinstance(value, list) else [value]
        if ids and all(isinstance(item, str) and DOCUMENT_ID.match(item) for item in ids):
            found[key] = list(ids)
    return found


class DocumentService:
    # Set by the composition root when the process runs applications (it checks owners and states there).
    applications: ApplicationService | None = None

    def __init__(self, database: Database, cipher: FieldCipher, store: DocumentStore, scanner: Scanner) -> None:
        self.database = database
        self.cipher = cipher
        self.store = store
        self.scanner = scanner

    # ---- the citizen ----

    async def upload(
        self,
        citizen_ref: str,
        application_id: str,
        field_id: str,
        name: str,
        chunks: AsyncIterator[bytes],
        *,
        declared_size: int | None = None,
    ) -> Document:
        """Store one file for ``field_id`` of the citizen's draft application, checked by content, size and scan.

        The body is read only after the application and field are known, and reading stops at the field's limit.
        """
        spec = await self._file_field(citizen_ref, application_id, field_id)
        limit = spec.max_bytes or 0
        name = _clean_name(name)
        if declared_size is not None and declared_size > limit:
            raise self._too_large(limit)
        existing = await self._count(application_id, field_id)
        most = (spec.max_items or LIST_MAX_FILES) if spec.multiple else 1
        if existing >= most:
            raise _error(
                ["fieldId"],
                "TOO_MANY",
                f"This field takes at most {most} file{'s' if most > 1 else ''}; remove one "
                "(removeDocument) before uploading another.",
                f"此欄位最多可上載 {most} 個檔案；請先移除一個再上載。",
            )
        parts: list[bytes] = []
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise self._too_large(limit)
            parts.append(chunk)
        content = b"".join(parts)
        if not content:
            raise _error(
                ["file"], "EMPTY_FILE", "The file is empty; choose the file again.", "檔案是空的；請重新選擇檔案。"
            )
        kind = sniff(content[:SNIFF_BYTES])
        if kind not in spec.accept:
            allowed = ", ".join(k.upper() for k in spec.accept)
            seen = f"a {kind.upper()} file" if kind else "not a file of a kind we recognise"
            raise _error(
                ["file"],
                "FILE_TYPE_NOT_ACCEPTED",
                f"This file's content is {seen}; upload {allowed} (the file name does not matter).",
                f"檔案內容不是可接受的格式；請上載 {allowed} 檔案。",
            )
        scanned = await self.scanner.scan(content)
        if scanned.status is ScanStatus.INFECTED:
            raise _error(
                ["file"],
                "FILE_INFECTED",
                "The virus scan found malware in this file, so it was not accepted; scan your device "
                "and upload a clean copy.",
                "病毒掃描發現此檔案含有惡意程式，因此不獲接納；請掃描你的裝置並上載一份乾淨的副本。",
            )
        document_id = f"doc-{uuid.uuid4().hex}"
        await self.store.put(document_id, seal(self.cipher.ring, document_id, content))
        row = DocumentRow(
            id=document_id,
            application_id=application_id,
            citizen_ref=citizen_ref,
            field_id=field_id,
            name=self.cipher.encrypt(name.encode(), _aad(document_id)),
            kind=kind,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            scan_status=scanned.status.value,
            store=self.store.name,
            retention_days=spec.delete_after_decision_days,
            created_at=datetime.now(UTC),
            submitted_at=None,
            delete_after=None,
            deleted_at=None,
        )
        async with self.database.session() as session:
            session.add(row)
        return self._document(row)

    async def remove(self, citizen_ref: str, document_id: str) -> Document:
        """Delete one of the citizen's documents of a draft; a submitted one stays with the department."""
        row = await self._owned(citizen_ref, document_id)
        status, answers, completed = await self._state(citizen_ref, row.application_id)
        if row.submitted_at is not None or status != Status.DRAFT:
            raise _error(
                ["documentId"],
                "NOT_A_DRAFT",
                "The application was submitted, so its documents stay with the department.",
                "申請已遞交，文件已交予部門，無法移除。",
            )
        # The answer of a completed step names it; a step being answered again (after going back) checks anew.
        if row.field_id in completed and row.id in attached_ids(answers).get(row.field_id, []):
            raise _error(
                ["documentId"],
                "DOCUMENT_ATTACHED",
                f"This file is your answer to {row.field_id!r}: go back to that step and answer it "
                "without this file first, then remove it.",
                f"此檔案是欄位 {row.field_id!r} 的答案：請先返回該步驟並更改答案，然後再移除。",
            )
        document = self._document(row)
        await self._erase([row.id])
        return document

    async def for_application(self, application_id: str) -> list[Document]:
        """The application's documents still held, oldest first (the caller has checked it may see them)."""
        async with self.database.session() as session:
            rows = await session.scalars(
                select(DocumentRow)
                .where(DocumentRow.application_id == application_id, DocumentRow.deleted_at.is_(None))
                .order_by(DocumentRow.created_at, DocumentRow.id)
            )
            return [self._document(row) for row in rows]

    async def read(self, principal: Principal, citizen_ref: str | None, document_id: str) -> tuple[Document, bytes]:
        """The file for its owner, or for staff of the department once the application reached it."""
        async with self.database.session() as session:
            row = await session.get(DocumentRow, document_id) if DOCUMENT_ID.match(document_id) else None
        if row is None or row.deleted_at is not None:
            raise NotFound("document", document_id)
        if citizen_ref is not None:
            if row.citizen_ref != citizen_ref:
                raise NotFound("document", document_id)
        else:
            if row.submitted_at is None or self.applications is None:
                raise NotFound("document", document_id)
            await self.applications.get_for_staff(principal, row.application_id)  # NotFound unless theirs
        blob = await self.store.get(row.id)
        if blob is None:
            raise NotFound("document", document_id)
        return self._document(row), unseal(self.cipher.ring, row.id, blob)

    # ---- the application's life ----

    async def check_answers(self, application_id: str, citizen_ref: str, answers: Mapping[str, Any]) -> None:
        """Refuse an answer naming a document that is not this citizen's, for this application and field."""
        wanted = attached_ids(answers)
        if not wanted:
            return
        every = {i for ids in wanted.values() for i in ids}
        async with self.database.session() as session:
            rows = {r.id: r for r in await session.scalars(select(DocumentRow).where(DocumentRow.id.in_(every)))}
        errors: list[FieldError] = []
        for key, ids in wanted.items():
            for document_id in ids:
                row = rows.get(document_id)
                if (
                    row is None
                    or row.citizen_ref != citizen_ref
                    or row.application_id != application_id
                    or row.deleted_at is not None
                ):
                    errors.append(
                        FieldError(
                            ["answers", key],
                            "DOCUMENT_NOT_FOUND",
                            {
                                "en": f"No file you uploaded to this application has the id {document_id}; upload the "
                                "file (POST /documents) and give the id it returns.",
                                "tc": f"你在此申請中上載的檔案沒有編號 {document_id}；請先上載檔案，再提供取得的編號。",
                            },
                        )
                    )
                elif row.field_id != key:
                    errors.append(
                        FieldError(
                            ["answers", key],
                            "DOCUMENT_NOT_FOUND",
                            {
                                "en": f"The file {document_id} was uploaded for the field {row.field_id!r}, "
                                f"not {key!r}; upload it again for this field.",
                                "tc": f"檔案 {document_id} 是為欄位 {row.field_id!r} 上載的；請為此欄位重新上載。",
                            },
                        )
                    )
        if errors:
            raise InvalidInput(errors)

    async def deliver(
        self, application_id: str, answers: Mapping[str, Any], submitted_at: datetime
    ) -> list[dict[str, Any]]:
        """The manifest of the files the submission attaches (each with its SHA-256, signed with the answers);
        marks them submitted and deletes the application's files the citizen uploaded but did not attach.
        Idempotent: a retried delivery gives the same manifest."""
        attached = {i: key for key, ids in attached_ids(answers).items() for i in ids}
        manifest: list[dict[str, Any]] = []
        unattached: list[str] = []
        async with self.database.engine.begin() as connection:
            rows = (await connection.execute(prepared(connection, _kept), {"application": application_id})).all()
            unsubmitted: list[str] = []
            for row in rows:
                if row.id not in attached or attached[row.id] != row.field_id:
                    unattached.append(row.id)
                    continue
                if row.submitted_at is None:
                    unsubmitted.append(row.id)
                manifest.append(
                    {
                        "id": row.id,
                        "field": row.field_id,
                        "name": self.cipher.decrypt(row.name, _aad(row.id)).decode(),
                        "mediaType": media_type(row.kind),
                        "size": row.size,
                        "sha256": row.sha256,
                        "scanStatus": row.scan_status,
                    }
                )
            if unsubmitted:
                await connection.execute(prepared(connection, _submitted), {"ids": unsubmitted, "at": submitted_at})
        await self._erase(unattached)
        return manifest

    async def content(self, document_id: str) -> bytes | None:
        """A document's clear content for delivery (None when it is gone)."""
        blob = await self.store.get(document_id)
        return None if blob is None else unseal(self.cipher.ring, document_id, blob)

    async def start_retention(self, application_id: str, closed_at: datetime) -> int:
        """The application was decided or withdrawn: each submitted file with a retention is due ``retention_days``
        later, and files never submitted are due at once."""
        async with self.database.session() as session:
            rows = list(
                await session.scalars(
                    select(DocumentRow).where(
                        DocumentRow.application_id == application_id,
                        DocumentRow.deleted_at.is_(None),
                        DocumentRow.delete_after.is_(None),
                    )
                )
            )
            for row in rows:
                if row.submitted_at is None:  # never reached the department: nothing to keep it for
                    row.delete_after = closed_at
                elif row.retention_days is not None:
                    row.delete_after = closed_at + timedelta(days=row.retention_days)
        return len(rows)

    async def purge_due(self, now: datetime, *, limit: int = 500) -> int:
        """Delete the content of every document past its retention; the row keeps its SHA-256 for the record."""
        await self._close_finished(limit)
        async with self.database.session() as session:
            due = list(
                await session.scalars(
                    select(DocumentRow.id)
                    .where(DocumentRow.delete_after <= now, DocumentRow.deleted_at.is_(None))
                    .limit(limit)
                )
            )
        await self._erase(due)
        return len(due)

    async def _close_finished(self, limit: int) -> None:
        """Start the retention of files whose application the index shows closed (expired, withdrawn, decided)
        without it having started: a draft that expired, or a decision whose API call died before it could."""
        async with self.database.session() as session:
            rows = (
                await session.execute(
                    select(DocumentRow, ApplicationRow.updated_at)
                    .join(ApplicationRow, ApplicationRow.application_id == DocumentRow.application_id)
                    .where(DocumentRow.deleted_at.is_(None), DocumentRow.delete_after.is_(None),
                           ApplicationRow.status.in_(_CLOSED),
                           or_(DocumentRow.submitted_at.is_(None), DocumentRow.retention_days.is_not(None)))
                    .limit(limit)
                )
            ).all()
            for row, closed_at in rows:
                if row.submitted_at is None:
                    row.delete_after = closed_at
                elif row.retention_days is not None:
                    row.delete_after = closed_at + timedelta(days=row.retention_days)

    # ---- plumbing ----

    async def _file_field(self, citizen_ref: str, application_id: str, field_id: str) -> FieldSpec:
        if self.applications is None:
            raise Forbidden("documents need applications, and this process has no Temporal connection")
        view = await self.applications.get(application_id, citizen_ref)  # NotFound unless the caller's
        if view.status != Status.DRAFT:
            raise _error(
                ["applicationId"],
                "NOT_A_DRAFT",
                f"The application is {view.status}; files can be added only before it is submitted.",
                "申請已遞交或已結束；只可在遞交前加入檔案。",
            )
        snapshot = await self.applications.store.get(view.content_hash)
        spec = None
        if snapshot is not None:
            spec = next(
                (f for step in snapshot.steps for f in fields_of(step) if f.id == field_id and f.type == "file"), None
            )
        if spec is None:
            raise _error(
                ["fieldId"],
                "UNKNOWN_FIELD",
                f"This application has no file field {field_id!r}; use the id of a field of type file.",
                f"此申請沒有檔案欄位 {field_id!r}。",
            )
        return spec

    async def _state(self, citizen_ref: str, application_id: str) -> tuple[str, Mapping[str, Any], set[str]]:
        """The application's status, answers, and the fields of its completed steps."""
        if self.applications is None:
            return Status.DRAFT, {}, set()
        view = await self.applications.get(application_id, citizen_ref)
        snapshot = await self.applications.store.get(view.content_hash)
        steps = snapshot.steps if snapshot is not None else []
        completed = {f.id for step in steps if step.id in view.completed for f in fields_of(step)}
        return view.status, view.answers, completed

    async def _owned(self, citizen_ref: str, document_id: str) -> DocumentRow:
        async with self.database.session() as session:
            row = await session.get(DocumentRow, document_id) if DOCUMENT_ID.match(document_id) else None
        if row is None or row.citizen_ref != citizen_ref or row.deleted_at is not None:
            raise NotFound("document", document_id)
        return row

    async def _count(self, application_id: str, field_id: str) -> int:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(DocumentRow.id).where(
                    DocumentRow.application_id == application_id,
                    DocumentRow.field_id == field_id,
                    DocumentRow.deleted_at.is_(None),
                    DocumentRow.submitted_at.is_(None),
                )
            )
            return len(list(rows))

    async def _erase(self, ids: Sequence[str]) -> None:
        for document_id in ids:
            await self.store.delete(document_id)
            async with self.database.session() as session:
                row = await session.get(DocumentRow, document_id)
                if row is not None:
                    row.deleted_at = datetime.now(UTC)
                    row.name = self.cipher.encrypt(b"", _aad(document_id))

    def _too_large(self, limit: int) -> InvalidInput:
        return _error(
            ["file"],
            "FILE_TOO_LARGE",
            f"The file is larger than {_size_text(limit)}; make it smaller "
            "(scan at a lower resolution, or save as a compressed PDF) and upload it again.",
            f"檔案大於 {_size_text(limit)}；請縮小檔案後再上載。",
        )

    def _document(self, row: DocumentRow) -> Document:
        return Document(
            id=row.id,
            application_id=row.application_id,
            field_id=row.field_id,
            name=self.cipher.decrypt(row.name, _aad(row.id)).decode(),
            kind=row.kind,
            media_type=media_type(row.kind),
            size=row.size,
            sha256=row.sha256,
            scan_status=ScanStatus(row.scan_status),
            created_at=row.created_at,
            submitted_at=row.submitted_at,
            deleted=row.deleted_at is not None,
        )


def _kept(dialect: str) -> Any:
    """An application's files not erased, in upload order."""
    documents = table_of(DocumentRow).c
    return (select(documents.id, documents.field_id, documents.name, documents.kind, documents.size, documents.sha256,
                   documents.scan_status, documents.submitted_at)
            .where(documents.application_id == bindparam("application"), documents.deleted_at.is_(None))
            .order_by(documents.created_at, documents.id))


def _submitted(dialect: str) -> Any:
    documents = table_of(DocumentRow)
    return (update(documents).where(documents.c.id.in_(bindparam("ids", expanding=True)),
                                    documents.c.submitted_at.is_(None))
            .values(submitted_at=bindparam("at")))
