"""Applicant actions on applications: each one is a workflow update that answers with the new state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from onestop.engine import ApplicationRefused, ApplicationView, EventKind, NotFound, new_resume_token
from onestop.graphql.applications.inputs import (
    RespondToRequestInput,
    StartApplicationInput,
    StepActionInput,
    SubmitStepInput,
    WithdrawApplicationInput,
)
from onestop.graphql.applications.services import (
    application_key,
    application_service,
    caller_ref,
    not_found,
    refusal_errors,
)
from onestop.graphql.applications.types import Application
from onestop.graphql.context import Info_
from onestop.graphql.errors import Unauthenticated, UserError
from onestop.graphql.fields import field


@strawberry.type
class ApplicationPayload:
    application: Application | None
    user_errors: list[UserError]
    client_mutation_id: str | None = None
    resume_token: str | None = strawberry.field(default=None, description=(
        "Only on startApplication without a login (a `login: none` service): the secret that resumes this "
        "application. Keep it and send it as the X-Resume-Token header on later calls; it is shown once, never "
        "stored by the server, and is the only key to the draft."))


async def _act(info: Info_, global_id: str, client_mutation_id: str | None,
               action: Callable[[str, str], Awaitable[ApplicationView]]) -> ApplicationPayload:
    if info.context.resume_token is None or await info.context.principal() is not None:
        await info.context.require_citizen()  # UNAUTHENTICATED without a login, FORBIDDEN for staff
    key = application_key(str(global_id))
    if key is None:
        return ApplicationPayload(application=None, user_errors=not_found(), client_mutation_id=client_mutation_id)
    citizen_ref = await caller_ref(info, key)
    try:
        view = await action(key, citizen_ref)
    except ApplicationRefused as exc:
        return ApplicationPayload(application=None, user_errors=refusal_errors(info, exc),
                                  client_mutation_id=client_mutation_id)
    except NotFound:
        return ApplicationPayload(application=None, user_errors=not_found(), client_mutation_id=client_mutation_id)
    return ApplicationPayload(application=Application.of(view), user_errors=[],
                              client_mutation_id=client_mutation_id)


@strawberry.type
class ApplicationsMutation:
    @field(description="Start (or, with the same clientMutationId, get back) an application for a service.")
    async def start_application(self, info: Info_, input: StartApplicationInput) -> ApplicationPayload:
        engine = info.context.engine
        principal = await info.context.principal()
        resume_token: str | None = None
        if principal is None:
            # Anonymous only for a `login: none` service; a resume token never starts anything else.
            catalogued = info.context.snapshot.catalogue.service(input.service_slug)
            if catalogued is not None and catalogued.login_required:
                raise Unauthenticated()
            resume_token = new_resume_token()
            citizen_ref, citizen = engine.applicants.resume_refs(resume_token)[0], engine.applicants.anonymous()
        else:
            citizen_ref, citizen = await engine.applicants.context_of(await info.context.require_citizen())
        service = application_service(info)
        engine.security.events.record(EventKind.APPLICATION_STARTED, ip=info.context.client_ip,
                                      citizen_ref=None if principal is None else citizen_ref,
                                      service=input.service_slug, anonymous=principal is None)
        try:
            view = await service.start(citizen_ref, citizen, input.service_slug, input.client_mutation_id)
        except NotFound:
            return ApplicationPayload(application=None, client_mutation_id=input.client_mutation_id, user_errors=[
                UserError(field=["input", "serviceSlug"], code="NOT_FOUND",
                          message=f"No service {input.service_slug!r}; find slugs with the services query.")])
        except ApplicationRefused as exc:
            return ApplicationPayload(application=None, user_errors=refusal_errors(info, exc),
                                      client_mutation_id=input.client_mutation_id)
        return ApplicationPayload(application=Application.of(view), user_errors=[],
                                  client_mutation_id=input.client_mutation_id, resume_token=resume_token)

    @field(description="Answer a form or review step (or submit, on the submit step, with empty answers).")
    async def submit_step(self, info: Info_, input: SubmitStepInput) -> ApplicationPayload:
        service = application_service(info)
        answers: Any = input.answers
        if not isinstance(answers, dict):
            return ApplicationPayload(application=None, client_mutation_id=input.client_mutation_id, user_errors=[
                UserError(field=["input", "answers"], code="WRONG_TYPE",
                          message="answers must be a JSON object keyed by field id.")])
        return await _act(info, input.application_id, input.client_mutation_id, lambda key, ref: service.submit_step(
            key, ref, input.step_id, answers, input.client_mutation_id))

    @field(description="Agree on a prefill or consent step (a prefill step then fetches the listed data).")
    async def grant_consent(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        service = application_service(info)
        return await _act(info, input.application_id, input.client_mutation_id, lambda key, ref: service.grant_consent(
            key, ref, input.step_id, input.client_mutation_id))

    @field(description="Decline a prefill step (type the data yourself) or a consent step.")
    async def decline_consent(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        service = application_service(info)
        return await _act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref: service.decline_consent(key, ref, input.step_id, input.client_mutation_id))

    @field(description="Complete a step-up step with the current token (RFC 9470 error when it is not enough).")
    async def complete_step_up(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        principal = await info.context.require_citizen()
        service = application_service(info)
        return await _act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref: service.complete_step_up(key, principal, ref, input.step_id,
                                                                    input.client_mutation_id))

    @field(description="Reopen an earlier step; later answers that no longer apply are dropped when you resubmit.")
    async def go_back(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        service = application_service(info)
        return await _act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref: service.go_back(key, ref, input.step_id, input.client_mutation_id))

    @field(description="Withdraw an application before the department decides.")
    async def withdraw_application(self, info: Info_, input: WithdrawApplicationInput) -> ApplicationPayload:
        service = application_service(info)
        return await _act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref: service.withdraw(key, ref, input.client_mutation_id))

    @field(description="Reply to the department's request for information (NEEDS_INFO); the application goes back "
                       "to IN_REVIEW and your reply joins its timeline.")
    async def respond_to_request(self, info: Info_, input: RespondToRequestInput) -> ApplicationPayload:
        service = application_service(info)
        return await _act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref: service.respond(key, ref, input.message, input.client_mutation_id))
