"""Reaching the application service from a resolver."""

from __future__ import annotations

from onestop.engine import ApplicationService
from onestop.graphql.context import Info_
from onestop.graphql.errors import ApiError, ErrorCode, UserError, UserErrorCode
from onestop.graphql.relay import from_global_id


def application_service(info: Info_) -> ApplicationService:
    service = info.context.engine.applications
    if service is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE,
                       "Applications are not available: this server has no Temporal connection; try again later.")
    return service


def application_key(global_id: str) -> str | None:
    parsed = from_global_id(global_id)
    return parsed[1] if parsed is not None and parsed[0] == "Application" else None


NOT_FOUND = UserError(field=["input", "applicationId"], code=UserErrorCode.NOT_FOUND,
                      message="No application of yours has this id; list them with viewer { applications }.")


async def caller_ref(info: Info_, application_id: str) -> str:
    """The citizen reference the caller acts as on ``application_id``: a logged-in citizen's, else the one an
    ``X-Resume-Token`` stands for (it owns only the anonymous applications started with it; a wrong token owns
    nothing, like "not found")."""
    if await info.context.principal() is None and info.context.resume_token is not None:
        refs = info.context.engine.applicants.resume_refs(info.context.resume_token)
        return await application_service(info).owner_among(application_id, refs)
    principal = await info.context.require_citizen()
    return await info.context.engine.applicants.ref_of(principal)
