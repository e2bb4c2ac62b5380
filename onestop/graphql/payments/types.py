"""Payment types: a payment step's attempts, their status, reference and signed receipt."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop import engine
from onestop.engine import PaymentAttempt, dollars
from onestop.graphql.context import Info_
from onestop.graphql.fields import field

# Derived from the workflow's, never copied.
PaymentStatus = engine.PaymentStatus
strawberry.enum(PaymentStatus, name="PaymentStatus", description="Where one payment attempt stands.")


@strawberry.type(description="One payment of a payment step: the hosted page, and what became of it.")
class Payment:
    attempt_: strawberry.Private[PaymentAttempt]
    application_id: strawberry.Private[str]

    @field(description="The payment provider's id of this payment; quote it to the department.")
    def id(self) -> str:
        return self.attempt_.payment_id

    @field(description="The payment step it pays for.")
    def step_id(self) -> str:
        return self.attempt_.step_id

    @field(description="1 for the first try of the step, 2 after one failed, cancelled or timed out, ...")
    def attempt(self) -> int:
        return self.attempt_.attempt

    @field(description="The amount in the currency's units (HK dollars), e.g. 900.0.")
    def amount(self) -> float:
        return self.attempt_.amount_cents / 100

    @field(description="The amount as shown to people, e.g. HK$900.")
    def amount_text(self) -> str:
        return dollars(self.attempt_.amount_cents)

    @field(description="ISO 4217; always HKD.")
    def currency(self) -> str:
        return self.attempt_.currency

    @field()
    def status(self) -> PaymentStatus:
        return PaymentStatus(self.attempt_.status)

    @field(description="How it was paid: fps, pps or card (null until the provider says).")
    def method(self) -> str | None:
        return self.attempt_.method

    @field(description="The provider's reference of a successful payment.")
    def reference(self) -> str | None:
        return self.attempt_.provider_reference

    @field(description="The hosted payment page; only while the payment is PENDING. It carries no personal data.")
    def url(self) -> str | None:
        return self.attempt_.url if self.attempt_.status is engine.PaymentStatus.PENDING else None

    @field(description="When the hosted page stops accepting the payment.")
    def expires_at(self) -> datetime:
        return self.attempt_.deadline

    @field()
    def started_at(self) -> datetime:
        return self.attempt_.started_at

    @field(description="When it succeeded, failed, was cancelled, timed out or was refunded.")
    def settled_at(self) -> datetime | None:
        return self.attempt_.settled_at

    @field()
    def receipt_id(self) -> str | None:
        return self.attempt_.receipt_id

    @field(description="The signed receipt (a JWS, verifiable with the platform's keys at /.well-known/jwks.json); "
                       "null until the payment succeeded.")
    async def receipt(self, info: Info_) -> str | None:
        if self.attempt_.receipt_id is None:
            return None
        record = await info.context.engine.payments.records.get(self.attempt_.payment_id)
        return record.receipt if record is not None and record.application_id == self.application_id else None

    @field(description="The provider's id of the refund, when the fee was refunded.")
    def refund_id(self) -> str | None:
        return self.attempt_.refund_id


def payments_of(application_id: str, attempts: list[PaymentAttempt]) -> list[Payment]:
    return [Payment(attempt_=a, application_id=application_id) for a in attempts]
