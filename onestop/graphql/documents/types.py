"""A file a citizen uploaded, as the citizen and the department see it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop.engine import Document as DocumentModel
from onestop.engine import ScanStatus
from onestop.graphql.fields import field

DocumentScanStatus = strawberry.enum(
    ScanStatus,
    name="DocumentScanStatus",
    description="CLEAN: the virus scanner found nothing; NOT_SCANNED: no scanner is configured, so nobody has "
    "checked the file. A stored document is never INFECTED: an infected upload is refused and not kept.",
)


@strawberry.type(
    description="A file uploaded for a file field (POST /documents); download it at "
    "GET /documents/{id} with the same token."
)
class Document:
    model: strawberry.Private[DocumentModel]

    @field(description="The document id a file field's answer gives.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.model.id)

    @field(description="The file field it was uploaded for.")
    def field_id(self) -> str:
        return self.model.field_id

    @field(description="The file name the citizen gave.")
    def name(self) -> str:
        return self.model.name

    @field(description="The media type its content shows (magic bytes), e.g. application/pdf.")
    def media_type(self) -> str:
        return self.model.media_type

    @field(description="Bytes.")
    def size(self) -> int:
        return self.model.size

    @field(description="Hex SHA-256 of the content, as signed into the submission.")
    def sha256(self) -> str:
        return self.model.sha256

    @field()
    def scan_status(self) -> DocumentScanStatus:  # type: ignore[valid-type]
        return self.model.scan_status

    @field()
    def uploaded_at(self) -> datetime:
        return self.model.created_at

    @field(description="Whether it went to the department with the submission.")
    def submitted(self) -> bool:
        return self.model.submitted_at is not None
