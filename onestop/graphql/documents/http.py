"""Uploading and downloading documents over HTTP, with the bearer token GraphQL takes.

``POST /documents?applicationId=<Application id>&fieldId=<file field id>``: the raw file as the body, its name
percent-encoded in ``X-File-Name`` (a name can be personal data: never in the URL). The body is read only after
the caller, application and field are checked, and reading stops at the field's ``maxSize``. Answers
``201 {"document": {...}}`` or ``4xx {"userErrors": [...]}`` exactly as a mutation's.

``GET /documents/{id}``: the file, for the citizen who uploaded it, or staff of the department it was sent to.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from onestop.engine import Document, Engine, EngineError, InvalidInput, NotFound, Principal, ScannerUnavailable
from onestop.graphql.applications.services import application_key
from onestop.graphql.errors import ApiError, ErrorCode, Forbidden, Unauthenticated, engine_failure, user_errors_from
from onestop.graphql.language import request_language

PREFIX = "/documents"
_STATUS = {"FILE_TOO_LARGE": 413, "FILE_TYPE_NOT_ACCEPTED": 415}


def _json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "fieldId": document.field_id,
        "name": document.name,
        "mediaType": document.media_type,
        "size": document.size,
        "sha256": document.sha256,
        "scanStatus": document.scan_status.value,
    }


def _api_error(error: ApiError) -> Response:
    status = {
        ErrorCode.UNAUTHENTICATED: 401,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.SERVICE_UNAVAILABLE: 503,
    }.get(error.code, 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"errors": [{"message": str(error), "extensions": error.extensions}]}, status_code=status, headers=headers
    )


class DocumentEndpoints:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _principal(self, request: Request) -> Principal:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Send the access token as 'Authorization: Bearer <token>', as for /graphql.")
        try:
            return await self.engine.tokens.verify(token.strip())
        except Exception as exc:
            mapped = engine_failure(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def upload(self, request: Request) -> Response:
        lang = request_language(request.headers.get("accept-language"))
        try:
            principal = await self._principal(request)
            if not principal.is_citizen:
                raise Forbidden("Only the citizen applying uploads files; staff tokens cannot.")
            application_id = application_key(request.query_params.get("applicationId", ""))
            field_id = request.query_params.get("fieldId", "")
            if application_id is None:
                return JSONResponse(
                    {
                        "userErrors": [
                            {
                                "field": ["applicationId"],
                                "code": "NOT_FOUND",
                                "message": "No application of yours has this id; give the Application id from GraphQL.",
                            }
                        ]
                    },
                    status_code=404,
                )
            declared = request.headers.get("content-length")
            citizen_ref = await self.engine.applicants.ref_of(principal)
            document = await self.engine.documents.upload(
                citizen_ref,
                application_id,
                field_id,
                unquote(request.headers.get("x-file-name", "")),
                request.stream(),
                declared_size=int(declared) if declared and declared.isdigit() else None,
            )
        except InvalidInput as exc:
            errors = user_errors_from(exc, lang=lang, input_name="upload") or []
            status = _STATUS.get(exc.errors[0].code, 422) if exc.errors else 422
            return JSONResponse(
                {"userErrors": [{"field": e.field, "message": e.message, "code": e.code.value} for e in errors]},
                status_code=status,
            )
        except NotFound:
            return JSONResponse(
                {
                    "userErrors": [
                        {
                            "field": ["applicationId"],
                            "code": "NOT_FOUND",
                            "message": "No application of yours has this id; list them with viewer { applications }.",
                        }
                    ]
                },
                status_code=404,
            )
        except ScannerUnavailable as exc:
            return _api_error(ApiError(ErrorCode.SERVICE_UNAVAILABLE, exc.message, reason=exc.code))
        except ApiError as exc:
            return _api_error(exc)
        except EngineError as exc:
            mapped = engine_failure(exc)
            if mapped is None:
                raise
            return _api_error(mapped)
        return JSONResponse({"document": _json(document)}, status_code=201)

    async def download(self, request: Request) -> Response:
        document_id = request.path_params["document_id"]
        try:
            principal = await self._principal(request)
            citizen_ref = await self.engine.applicants.ref_of(principal) if principal.is_citizen else None
            document, content = await self.engine.documents.read(principal, citizen_ref, document_id)
        except ApiError as exc:
            return _api_error(exc)
        except EngineError as exc:  # NotFound (unknown, or not the caller's) and Forbidden alike
            mapped = engine_failure(exc)
            if mapped is None:
                raise
            return _api_error(mapped)
        # The stored kind, never sniffed at download: a browser must not run it as HTML.
        return Response(
            content,
            media_type=document.media_type,
            headers={
                "Content-Disposition": "attachment",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )
