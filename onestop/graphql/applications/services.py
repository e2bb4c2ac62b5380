"""Reaching the application service from a resolver, and mapping its errors to userErrors once."""

from __future__ import annotations

from onestop.engine import ApplicationRefused, ApplicationService, NotFound
from onestop.graphql.applications.types import localized
from onestop.graphql.context import Info_
from onestop.graphql.errors import ApiError, ErrorCode, UserError
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


def refusal_errors(info: Info_, exc: ApplicationRefused) -> list[UserError]:
    errors = []
    for error in exc.errors:
        path = list(error.path)
        if path and path[0] not in ("stepId", "status", "message", "serviceSlug"):
            path = ["answers", *path]
        errors.append(UserError(field=["input", *path] if path else ["input"], code=error.code,
                                message=localized(error.message, info.context.lang) or error.code))
    return errors


def not_found(_: NotFound | None = None) -> list[UserError]:
    return [UserError(field=["input", "applicationId"], code="NOT_FOUND",
                      message="No application of yours has this id; list them with viewer { applications }.")]


async def caller_ref(info: Info_, application_id: str) -> str:
    """The citizen reference the caller acts as on ``application_id``: a logged-in citizen's, else the one an
    ``X-Resume-Token`` stands for (it owns only the anonymous applications started with it; a wrong token owns
    nothing, like "not found")."""
    if await info.context.principal() is None and info.context.resume_token is not None:
        refs = info.context.engine.applicants.resume_refs(info.context.resume_token)
        return await application_service(info).owner_among(application_id, refs)
    principal = await info.context.require_citizen()
    return await info.context.engine.applicants.ref_of(principal)
