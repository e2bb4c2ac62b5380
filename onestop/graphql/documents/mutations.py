"""removeDocument: the citizen takes back a file before submitting."""

from __future__ import annotations

import strawberry

from onestop.graphql.context import Info_
from onestop.graphql.documents.types import Document
from onestop.graphql.errors import UserError, UserErrorCode, outcome
from onestop.graphql.fields import field


@strawberry.input
class RemoveDocumentInput:
    document_id: strawberry.ID
    client_mutation_id: str | None = None


@strawberry.type
class RemoveDocumentPayload:
    document: Document | None = strawberry.field(description="The removed document (its file is deleted).")
    user_errors: list[UserError]
    client_mutation_id: str | None = None


_NOT_FOUND = UserError(
    field=["input", "documentId"],
    code=UserErrorCode.DOCUMENT_NOT_FOUND,
    message="No file of yours has this document id; list them with application { documents }.",
)


@strawberry.type
class DocumentsMutation:
    @field(description="Remove a file you uploaded to an application you have not submitted yet.")
    async def remove_document(self, info: Info_, input: RemoveDocumentInput) -> RemoveDocumentPayload:
        principal = await info.context.require_citizen()
        engine = info.context.engine
        citizen_ref = await engine.applicants.ref_of(principal)
        done = await outcome(
            lambda: engine.documents.remove(citizen_ref, str(input.document_id)),
            info.context.lang,
            not_found=_NOT_FOUND,
        )
        return RemoveDocumentPayload(
            document=done.map(lambda d: Document(model=d)),
            user_errors=done.user_errors,
            client_mutation_id=input.client_mutation_id,
        )
