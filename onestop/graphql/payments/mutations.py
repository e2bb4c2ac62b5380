"""beginPayment: open the hosted payment page of the current payment step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import strawberry

from onestop.engine import ApplicationView, PaymentStatus, Principal
from onestop.graphql.applications.services import NOT_FOUND, application_key, application_service, caller_ref
from onestop.graphql.context import Info_
from onestop.graphql.errors import Outcome, UserError, UserErrorCode, outcome
from onestop.graphql.fields import field
from onestop.graphql.payments.types import Payment, payments_of

if TYPE_CHECKING:
    from onestop.graphql.applications.types import Application

RETURN_URL_MAX_CHARS = 500


@strawberry.input
class BeginPaymentInput:
    application_id: strawberry.ID
    step_id: str
    return_url: str | None = strawberry.field(default=None, description=(
        "Where the payment page sends the citizen back (this site's own address, or a loopback one in "
        "development); it must carry no personal data."))
    client_mutation_id: str | None = None


@strawberry.type
class BeginPaymentPayload:
    application: Annotated[Application, strawberry.lazy("onestop.graphql.applications.types")] | None
    payment: Payment | None = strawberry.field(description="The open payment; send the citizen to its url.")
    payment_url: str | None = strawberry.field(description="The hosted payment page (no personal data in it).")
    user_errors: list[UserError]
    client_mutation_id: str | None = None


def _bad_return_url(value: str) -> UserError | None:
    parts = urlsplit(value)
    if len(value) > RETURN_URL_MAX_CHARS or parts.scheme not in ("http", "https") or not parts.netloc:
        return UserError(field=["input", "returnUrl"], code=UserErrorCode.INVALID_VALUE,
                         message=f"returnUrl must be an http(s) address of at most {RETURN_URL_MAX_CHARS} characters.")
    return None


@strawberry.type
class PaymentsMutation:
    @field(description="Open the hosted payment page of the current payment step (asking again while it is open "
                       "gives the same page: nothing is ever charged twice). Send the citizen to paymentUrl; the "
                       "application moves on when the provider confirms the payment.")
    async def begin_payment(self, info: Info_, input: BeginPaymentInput) -> BeginPaymentPayload:
        from onestop.graphql.applications.types import Application

        def payload(done: Outcome[ApplicationView]) -> BeginPaymentPayload:
            view = done.value
            pending = next((p for p in (view.payments if view else []) if p.status is PaymentStatus.PENDING), None)
            payment = payments_of(view.application_id, [pending])[0] if view and pending else None
            return BeginPaymentPayload(application=done.map(Application.of), payment=payment,
                                       payment_url=pending.url if pending else None, user_errors=done.user_errors,
                                       client_mutation_id=input.client_mutation_id)

        principal: Principal = await info.context.require_citizen()
        if input.return_url is not None:
            bad = _bad_return_url(input.return_url)
            if bad is not None:
                return payload(Outcome.refused(bad))
        key = application_key(str(input.application_id))
        if key is None:
            return payload(Outcome.refused(NOT_FOUND))
        service = application_service(info)
        citizen_ref = await caller_ref(info, key)
        return payload(await outcome(
            lambda: service.begin_payment(key, citizen_ref, input.step_id, input.return_url or "",
                                          input.client_mutation_id, principal=principal),
            info.context.lang, not_found=NOT_FOUND))
