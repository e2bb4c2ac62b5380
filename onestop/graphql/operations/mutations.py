"""Operators acknowledge and resolve alerts; citizens say whether it was them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from onestop.engine import Alert, CitizenAlert, CitizenAnswer
from onestop.graphql.context import Info_
from onestop.graphql.errors import Outcome, UserError, UserErrorCode, outcome
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


def _unknown() -> UserError:
    return UserError(field=["input", "alertId"], code=UserErrorCode.NOT_FOUND, message="No security alert has this id.")


async def _moved(info: Info_, alert_id: strawberry.ID, move: Callable[[str, str], Awaitable[Alert]]
                 ) -> Outcome[Alert]:
    operator = await require_operator(info)
    key = alert_key(str(alert_id))
    if key is None:
        return Outcome.refused(_unknown())
    staff_key = info.context.engine.security.events.staff_key(operator)
    return await outcome(lambda: move(key, staff_key), info.context.lang, not_found=_unknown())


@strawberry.type
class OperationsMutation:
    @field(description="Take an OPEN alert on (operators only).")
    async def acknowledge_alert(self, info: Info_, input: AcknowledgeAlertInput) -> SecurityAlertPayload:
        alerts = info.context.engine.security.alerts
        done = await _moved(info, input.alert_id, alerts.acknowledge)
        return SecurityAlertPayload(alert=done.map(lambda a: SecurityAlert(record=a)), user_errors=done.user_errors,
                                    client_mutation_id=input.client_mutation_id)

    @field(description="Close an alert as RESOLVED, or as FALSE_POSITIVE to teach the detector (operators only).")
    async def resolve_alert(self, info: Info_, input: ResolveAlertInput) -> SecurityAlertPayload:
        alerts = info.context.engine.security.alerts
        done = await _moved(info, input.alert_id, lambda key, operator: alerts.resolve(
            key, operator, false_positive=input.false_positive, note=input.note))
        return SecurityAlertPayload(alert=done.map(lambda a: SecurityAlert(record=a)), user_errors=done.user_errors,
                                    client_mutation_id=input.client_mutation_id)

    @field(description="Tell us whether an alert about you was you (WAS_ME) or not (WAS_NOT_ME); "
                       "WAS_NOT_ME raises it for the operators.")
    async def answer_security_alert(self, info: Info_, input: AnswerSecurityAlertInput
                                    ) -> AnswerSecurityAlertPayload:
        principal = await info.context.require_citizen()
        engine = info.context.engine
        key = alert_key(str(input.alert_id))
        done: Outcome[CitizenAlert]
        if key is None:
            done = Outcome.refused(_unknown())
        else:
            citizen_ref = await engine.applicants.ref_of(principal)
            done = await outcome(lambda: engine.security.alerts.answer(citizen_ref, key, input.answer),
                                 info.context.lang, not_found=_unknown())
        lang = info.context.lang
        return AnswerSecurityAlertPayload(alert=done.map(lambda a: CitizenSecurityAlert(record=a, lang=lang)),
                                          user_errors=done.user_errors, client_mutation_id=input.client_mutation_id)
