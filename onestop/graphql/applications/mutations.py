"""Applicant actions on applications: each one is a workflow update that answers with the new state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from onestop.catalogue import Service
from onestop.engine import Acting, ApplicationView, EventKind, Principal, new_resume_token
from onestop.graphql.applications.inputs import (
    RespondToRequestInput,
    StartApplicationInput,
    StepActionInput,
    SubmitStepInput,
    WithdrawApplicationInput,
)
from onestop.graphql.applications.services import NOT_FOUND, application_key, application_service, caller_ref
from onestop.graphql.applications.types import Application
from onestop.graphql.context import Info_
from onestop.graphql.errors import Outcome, Unauthenticated, UserError, UserErrorCode, outcome
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


def application_payload(done: Outcome[ApplicationView], client_mutation_id: str | None,
             resume_token: str | None = None,
             load: Callable[[ApplicationView], Callable[[], Awaitable[ApplicationView]]] | None = None
             ) -> ApplicationPayload:
    def application(view: ApplicationView) -> Application:
        return Application.of(view, None if load is None else load(view))

    return ApplicationPayload(application=done.map(application), user_errors=done.user_errors,
                              client_mutation_id=client_mutation_id,
                              resume_token=resume_token if done.value is not None else None)


async def act(info: Info_, global_id: str, client_mutation_id: str | None,
               action: Callable[[str, str, Principal | None], Awaitable[ApplicationView]]) -> ApplicationPayload:
    principal: Principal | None = None
    if info.context.resume_token is None or await info.context.principal() is not None:
        # UNAUTHENTICATED without a login, FORBIDDEN for staff; the token's level is checked on every action.
        principal = await info.context.require_citizen()
    key = application_key(str(global_id))
    if key is None:
        return application_payload(Outcome.refused(NOT_FOUND), client_mutation_id)
    citizen_ref = await caller_ref(info, key)
    service = application_service(info)

    async def act() -> ApplicationView:
        if principal is not None:
            # Acting for someone: the relationship must still hold at each action, not only at the start.
            engine = info.context.engine
            await engine.relationships.check_still_acting(key, await engine.data.citizens.ensure(principal.sub))
            view = await action(key, citizen_ref, principal)
            engine.relationships.exists(key)  # its parties are settled: the next check need not read them
            return view
        return await action(key, citizen_ref, principal)

    return application_payload(await outcome(act, info.context.lang, not_found=NOT_FOUND), client_mutation_id,
                               load=lambda view: lambda: service.get(view.application_id, citizen_ref))


async def _acting(info: Info_, principal: Principal, service: Service,
                  on_behalf_of: strawberry.ID | None) -> Outcome[Acting]:
    """Whether the caller may start ``service`` for ``on_behalf_of`` (themself when None); refusals say nothing
    about the person named."""
    engine = info.context.engine
    actor = await engine.data.citizens.ensure(principal.sub)
    subject_ref = None if on_behalf_of is None else str(on_behalf_of)
    return await outcome(lambda: engine.relationships.authorise(actor, subject_ref, service), info.context.lang)


@strawberry.type
class ApplicationsMutation:
    @field(description="Start (or, with the same clientMutationId, get back) an application for a service.")
    async def start_application(self, info: Info_, input: StartApplicationInput) -> ApplicationPayload:
        engine = info.context.engine
        principal = await info.context.principal()
        resume_token: str | None = None
        acting: Acting | None = None
        if principal is None and input.on_behalf_of is not None:
            raise Unauthenticated()  # acting for someone needs to know who acts
        if principal is None:
            # Anonymous only for a `login: none` service; a resume token never starts anything else.
            catalogued = info.context.snapshot.catalogue.service(input.service_slug)
            if catalogued is not None and catalogued.login_required:
                raise Unauthenticated()
            if catalogued is not None:
                await info.context.spend_anonymous_start(catalogued.id)
            resume_token = new_resume_token()
            citizen_ref, citizen = engine.applicants.resume_refs(resume_token)[0], engine.applicants.anonymous()
        else:
            principal = await info.context.require_citizen()
            # Before the applicant's facts are read: a token below the service's level causes no data access.
            application_service(info).check_assurance(principal, input.service_slug)
            catalogued = info.context.snapshot.catalogue.service(input.service_slug)
            if catalogued is not None:  # an unknown slug is refused by start, as NOT_FOUND
                allowed = await _acting(info, principal, catalogued, input.on_behalf_of)
                if allowed.value is None:
                    return ApplicationPayload(application=None, user_errors=allowed.user_errors,
                                              client_mutation_id=input.client_mutation_id)
                acting = allowed.value
            if acting is not None and acting.subject.ref != acting.actor.ref:
                # The service's rules are about the subject: their age, from their authoritative record.
                citizen_ref = acting.actor.ref
                citizen = await engine.applicants.acting_context(acting, principal.acr, input.service_slug)
            else:
                citizen_ref, citizen = await engine.applicants.context_of(principal, input.service_slug)
        service = application_service(info)
        engine.security.events.record(EventKind.APPLICATION_STARTED, ip=info.context.client_ip,
                                      citizen_ref=None if principal is None else citizen_ref,
                                      service=input.service_slug, anonymous=principal is None)
        done = await outcome(
            lambda: service.start(citizen_ref, citizen, input.service_slug, input.client_mutation_id,
                                  principal=principal, acting=acting),
            info.context.lang,
            not_found=UserError(field=["input", "serviceSlug"], code=UserErrorCode.NOT_FOUND,
                                message=f"No service {input.service_slug!r}; find slugs with the services query."),
        )
        if principal is not None and done.value is not None:  # started: its parties are settled
            engine.relationships.exists(done.value.application_id,
                                        own=acting is None or acting.subject.ref == acting.actor.ref)
        return application_payload(done, input.client_mutation_id, resume_token,
                                   load=lambda view: lambda: service.get(view.application_id, citizen_ref))

    @field(description="Answer a form or review step (or submit, on the submit step, with empty answers).")
    async def submit_step(self, info: Info_, input: SubmitStepInput) -> ApplicationPayload:
        service = application_service(info)
        answers: Any = input.answers
        if not isinstance(answers, dict):
            return application_payload(Outcome.refused(UserError(
                field=["input", "answers"], code=UserErrorCode.WRONG_TYPE,
                message="answers must be a JSON object keyed by field id.")), input.client_mutation_id)
        return await act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref, who: service.submit_step(key, ref, input.step_id, answers,
                                                                    input.client_mutation_id, principal=who,
                                                                    brief=True))

    @field(description="Agree on a prefill or consent step (a prefill step then fetches the listed data).")
    async def grant_consent(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref, who: service.grant_consent(key, ref, input.step_id,
                                                                      input.client_mutation_id, principal=who,
                                                                      brief=True))

    @field(description="Decline a prefill step (type the data yourself) or a consent step.")
    async def decline_consent(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref, who: service.decline_consent(key, ref, input.step_id,
                                                                          input.client_mutation_id, principal=who,
                                                                          brief=True))

    @field(description="Complete a step-up step with the current token (RFC 9470 error when it is not enough).")
    async def complete_step_up(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        principal = await info.context.require_citizen()
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref, _who: service.complete_step_up(key, principal, ref, input.step_id,
                                                                          input.client_mutation_id, brief=True))

    @field(description="Reopen an earlier step; later answers that no longer apply are dropped when you resubmit.")
    async def go_back(self, info: Info_, input: StepActionInput) -> ApplicationPayload:
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref, who: service.go_back(key, ref, input.step_id, input.client_mutation_id,
                                                                  principal=who, brief=True))

    @field(description="Withdraw an application before the department decides.")
    async def withdraw_application(self, info: Info_, input: WithdrawApplicationInput) -> ApplicationPayload:
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                         lambda key, ref, who: service.withdraw(key, ref, input.client_mutation_id, principal=who,
                                                                brief=True))

    @field(description="Reply to the department's request for information (NEEDS_INFO); the application goes back "
                       "to IN_REVIEW and your reply joins its timeline.")
    async def respond_to_request(self, info: Info_, input: RespondToRequestInput) -> ApplicationPayload:
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                          lambda key, ref, who: service.respond(key, ref, input.message, input.client_mutation_id,
                                                                  principal=who, brief=True))
