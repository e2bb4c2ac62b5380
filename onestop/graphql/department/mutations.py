"""Staff move an application on (a signal the citizen's timeline shows); operators redeliver a failed delivery."""

from __future__ import annotations

import strawberry

from onestop.graphql.applications.mutations import ApplicationPayload, application_payload
from onestop.graphql.applications.services import application_key, application_service
from onestop.graphql.applications.types import ApplicationStatus
from onestop.graphql.context import Info_
from onestop.graphql.errors import Outcome, Unauthenticated, UserError, UserErrorCode, outcome
from onestop.graphql.fields import field


@strawberry.input
class UpdateApplicationStatusInput:
    application_id: strawberry.ID
    status: ApplicationStatus
    message: str | None = None
    client_mutation_id: str | None = None


@strawberry.input
class RedeliverApplicationInput:
    application_id: strawberry.ID
    client_mutation_id: str | None = None


@strawberry.type
class DepartmentMutation:
    @field(description="Set IN_REVIEW, NEEDS_INFO (with a message), APPROVED or REJECTED (department staff only).")
    async def update_application_status(self, info: Info_, input: UpdateApplicationStatusInput
                                        ) -> ApplicationPayload:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        service = application_service(info)
        key = application_key(str(input.application_id))
        missing = UserError(field=["input", "applicationId"], code=UserErrorCode.NOT_FOUND,
                            message="No application in your department's inbox has this id.")
        if key is None:
            return application_payload(Outcome.refused(missing), input.client_mutation_id)
        # The engine's Forbidden (not department staff) reaches the caller as a FORBIDDEN error, not a userError.
        done = await outcome(lambda: service.update_status(principal, key, input.status, input.message),
                             info.context.lang, not_found=missing)
        return application_payload(done, input.client_mutation_id)

    @field(description="Deliver a DELIVERY_FAILED application to its department again, with a fresh retry window, "
                       "once the cause is fixed (staff with the operator role only).")
    async def redeliver_application(self, info: Info_, input: RedeliverApplicationInput) -> ApplicationPayload:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        service = application_service(info)
        key = application_key(str(input.application_id))
        missing = UserError(field=["input", "applicationId"], code=UserErrorCode.NOT_FOUND,
                            message="No application in your department's inbox has this id.")
        if key is None:
            return application_payload(Outcome.refused(missing), input.client_mutation_id)
        # Without the operator role the engine's Forbidden reaches the caller as a FORBIDDEN error.
        done = await outcome(lambda: service.redeliver(principal, key, input.client_mutation_id),
                             info.context.lang, not_found=missing)
        return application_payload(done, input.client_mutation_id)
