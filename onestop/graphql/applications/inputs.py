"""Mutation inputs of the applications domain; each may carry a ``clientMutationId`` for safe retries."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

_CMID = "Any string unique per intended action; repeating it (a retry) does not apply the action twice."


@strawberry.input
class StartApplicationInput:
    service_slug: str
    on_behalf_of: strawberry.ID | None = strawberry.field(default=None, description=(
        "Apply for someone you may act for: a Dependent's id from viewer { dependents { id } }. Omit to apply for "
        "yourself."))
    client_mutation_id: str | None = strawberry.field(default=None, description=_CMID)


@strawberry.input
class SubmitStepInput:
    application_id: strawberry.ID
    step_id: str
    answers: JSON = strawberry.field(description="Answers by field id, e.g. {\"phone\": \"91234567\"}.")
    client_mutation_id: str | None = strawberry.field(default=None, description=_CMID)


@strawberry.input
class StepActionInput:
    application_id: strawberry.ID
    step_id: str
    client_mutation_id: str | None = strawberry.field(default=None, description=_CMID)


@strawberry.input
class WithdrawApplicationInput:
    application_id: strawberry.ID
    client_mutation_id: str | None = strawberry.field(default=None, description=_CMID)


@strawberry.input
class RespondToRequestInput:
    application_id: strawberry.ID
    message: str = strawberry.field(description="Your reply to the department's request (1 to 2000 characters).")
    client_mutation_id: str | None = strawberry.field(default=None, description=_CMID)
