"""Staff move an application on; the change reaches the workflow as a signal and the citizen's timeline."""

from __future__ import annotations

import strawberry

from onestop.engine import ApplicationRefused, NotFound
from onestop.engine import Forbidden as EngineForbidden
from onestop.graphql.applications.mutations import ApplicationPayload
from onestop.graphql.applications.services import application_key, application_service, refusal_errors
from onestop.graphql.applications.types import Application, ApplicationStatus
from onestop.graphql.context import Info_
from onestop.graphql.errors import Forbidden, Unauthenticated, UserError
from onestop.graphql.fields import field


@strawberry.input
class UpdateApplicationStatusInput:
    application_id: strawberry.ID
    status: ApplicationStatus
    message: str | None = None
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
        missing = [UserError(field=["input", "applicationId"], code="NOT_FOUND",
                             message="No application in your department's inbox has this id.")]
        if key is None:
            return ApplicationPayload(application=None, user_errors=missing,
                                      client_mutation_id=input.client_mutation_id)
        try:
            view = await service.update_status(principal, key, input.status, input.message)
        except EngineForbidden as exc:
            raise Forbidden(exc.message) from exc
        except NotFound:
            return ApplicationPayload(application=None, user_errors=missing,
                                      client_mutation_id=input.client_mutation_id)
        except ApplicationRefused as exc:
            return ApplicationPayload(application=None, user_errors=refusal_errors(info, exc),
                                      client_mutation_id=input.client_mutation_id)
        return ApplicationPayload(application=Application.of(view), user_errors=[],
                                  client_mutation_id=input.client_mutation_id)
