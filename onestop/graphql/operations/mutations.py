"""Operators acknowledge and resolve alerts; citizens say whether it was them."""

from __future__ import annotations

import strawberry

from onestop.engine import CitizenAnswer, InvalidInput, NotFound
from onestop.graphql.context import Info_
from onestop.graphql.errors import UserError, user_errors_from
from onestop.graphql.fields import field
from onestop.graphql.operations.types import (
    CitizenSecurityAlert,
    SecurityAlert,
    alert_key,
    require_operator,
)


@strawberry.input
class AcknowledgeAlertInput:
    alert_id: strawberry.ID
    client_mutation_id: str | None = None


@strawberry.input
class ResolveAlertInput:
    alert_id: strawberry.ID
    false_positive: bool = strawberry.field(default=False, description=(
        "True when the alert was wrong: it becomes FALSE_POSITIVE and the detector learns the value was normal."))
    note: str | None = None
    client_mutation_id: str | None = None


@strawberry.input
class AnswerSecurityAlertInput:
    alert_id: strawberry.ID
    answer: CitizenAnswer
    client_mutation_id: str | None = None


@strawberry.type
class SecurityAlertPayload:
    alert: SecurityAlert | None
    user_errors: list[UserError]
    client_mutation_id: str | None = None


@strawberry.type
class AnswerSecurityAlertPayload:
    alert: CitizenSecurityAlert | None
    user_errors: list[UserError]
    client_mutation_id: str | None = None


def _unknown() -> list[UserError]:
    return [UserError(field=["input", "alertId"], code="NOT_FOUND", message="No security alert has this id.")]


@strawberry.type
class OperationsMutation:
    @field(description="Take an OPEN alert on (operators only).")
    async def acknowledge_alert(self, info: Info_, input: AcknowledgeAlertInput) -> SecurityAlertPayload:
        operator = await require_operator(info)
        key = alert_key(str(input.alert_id))
        if key is None:
            return SecurityAlertPayload(alert=None, user_errors=_unknown(), client_mutation_id=input.client_mutation_id)
        try:
            alert = await info.context.engine.security.alerts.acknowledge(
                key, info.context.engine.security.events.staff_key(operator))
        except NotFound:
            return SecurityAlertPayload(alert=None, user_errors=_unknown(), client_mutation_id=input.client_mutation_id)
        except InvalidInput as exc:
            return SecurityAlertPayload(alert=None, user_errors=user_errors_from(exc) or [],
                                        client_mutation_id=input.client_mutation_id)
        return SecurityAlertPayload(alert=SecurityAlert(record=alert), user_errors=[],
                                    client_mutation_id=input.client_mutation_id)

    @field(description="Close an alert as RESOLVED, or as FALSE_POSITIVE to teach the detector (operators only).")
    async def resolve_alert(self, info: Info_, input: ResolveAlertInput) -> SecurityAlertPayload:
        operator = await require_operator(info)
        key = alert_key(str(input.alert_id))
        if key is None:
            return SecurityAlertPayload(alert=None, user_errors=_unknown(), client_mutation_id=input.client_mutation_id)
        try:
            alert = await info.context.engine.security.alerts.resolve(
                key, info.context.engine.security.events.staff_key(operator), false_positive=input.false_positive,
                note=input.note)
        except NotFound:
            return SecurityAlertPayload(alert=None, user_errors=_unknown(), client_mutation_id=input.client_mutation_id)
        except InvalidInput as exc:
            return SecurityAlertPayload(alert=None, user_errors=user_errors_from(exc) or [],
                                        client_mutation_id=input.client_mutation_id)
        return SecurityAlertPayload(alert=SecurityAlert(record=alert), user_errors=[],
                                    client_mutation_id=input.client_mutation_id)

    @field(description="Tell us whether an alert about you was you (WAS_ME) or not (WAS_NOT_ME); "
                       "WAS_NOT_ME raises it for the operators.")
    async def answer_security_alert(self, info: Info_, input: AnswerSecurityAlertInput
                                    ) -> AnswerSecurityAlertPayload:
        principal = await info.context.require_citizen()
        engine = info.context.engine
        key = alert_key(str(input.alert_id))
        if key is None:
            return AnswerSecurityAlertPayload(alert=None, user_errors=_unknown(),
                                              client_mutation_id=input.client_mutation_id)
        citizen_ref = await engine.applicants.ref_of(principal)
        try:
            alert = await engine.security.alerts.answer(citizen_ref, key, input.answer)
        except NotFound:
            return AnswerSecurityAlertPayload(alert=None, user_errors=_unknown(),
                                              client_mutation_id=input.client_mutation_id)
        return AnswerSecurityAlertPayload(alert=CitizenSecurityAlert(record=alert, lang=info.context.lang),
                                          user_errors=[], client_mutation_id=input.client_mutation_id)
