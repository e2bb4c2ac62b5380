"""Fees inside the workflow: the messages of a payment step, its attempts, and the amount it charges.

Pure and deterministic like the rest of ``workflows``: the provider is reached only through the activities
named here and implemented in ``onestop.engine.payments``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import cel

from onestop.catalogue.fees import FEES_VARIABLE, MAX_FEE
from onestop.catalogue.functions import execute
from onestop.workflows import interpreter as interp
from onestop.workflows.snapshot import PaymentSpec, ServiceSnapshot, Text

SIGNAL_PAYMENT_RESULT = "paymentResult"
PAYMENT_TIMEOUT_DEFAULT = timedelta(minutes=15)
"""How long a hosted payment page waits for the citizen when the application's input names no timeout."""


class PaymentActivity:
    CREATE = "onestop.create_payment"
    CANCEL = "onestop.cancel_payment"
    REFUND = "onestop.refund_payment"
    RECEIPT = "onestop.issue_receipt"


class PaymentStatus(StrEnum):
    """Where one payment attempt stands."""

    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    REFUNDED = "REFUNDED"
    REFUND_FAILED = "REFUND_FAILED"


class ProviderResult(StrEnum):
    """What the provider says became of a hosted payment (its webhook, or its answer to a cancel)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PENDING = "pending"


SETTLED = {ProviderResult.SUCCEEDED: PaymentStatus.PAID, ProviderResult.FAILED: PaymentStatus.FAILED,
           ProviderResult.CANCELLED: PaymentStatus.CANCELLED, ProviderResult.EXPIRED: PaymentStatus.TIMED_OUT}


@dataclass
class PaymentAttempt:
    """One hosted payment of one payment step; a step that failed or timed out may have several."""

    payment_id: str
    step_id: str
    attempt: int
    amount_cents: int
    currency: str
    status: PaymentStatus
    url: str
    started_at: datetime
    deadline: datetime
    settled_at: datetime | None = None
    method: str | None = None
    provider_reference: str | None = None
    receipt_id: str | None = None
    refund_id: str | None = None
    refundable: bool = True


@dataclass(frozen=True)
class BeginPayment:
    step_id: str
    # Where the hosted page sends the citizen back; chosen by the engine, never carries personal data.
    return_url: str = ""
    client_mutation_id: str | None = None
    citizen_ref: str = ""
    assurance: str = ""


@dataclass(frozen=True)
class PaymentOutcome:
    """The provider's word on a payment, from its signed webhook (the engine verified the signature)."""

    payment_id: str
    result: ProviderResult
    event_id: str = ""
    method: str | None = None
    provider_reference: str | None = None


@dataclass(frozen=True)
class CreatePayment:
    application_id: str
    step_id: str
    attempt: int
    amount_cents: int
    currency: str
    description: Text
    return_url: str
    # The same on every retry of this attempt: the provider answers a retry with the same payment, never a second.
    idempotency_key: str


@dataclass(frozen=True)
class HostedPayment:
    payment_id: str
    url: str


@dataclass(frozen=True)
class CancelPayment:
    payment_id: str
    idempotency_key: str


@dataclass(frozen=True)
class RefundPayment:
    application_id: str
    payment_id: str
    amount_cents: int
    reason: str
    idempotency_key: str


@dataclass(frozen=True)
class RefundResult:
    refund_id: str


@dataclass(frozen=True)
class ReceiptRequest:
    application_id: str
    citizen_ref: str
    service_id: str
    department: str
    step_id: str
    description: Text
    payment_id: str
    amount_cents: int
    currency: str
    paid_at: datetime
    method: str | None = None
    provider_reference: str | None = None


@dataclass(frozen=True)
class Receipt:
    receipt_id: str


@lru_cache(maxsize=128)
def _program(source: str) -> Any:
    return cel.compile(source)


class AmountFault(Exception):
    """The amount is not a positive number of dollars up to the limit: a fault of the definition."""


def amount_cents(snapshot: ServiceSnapshot, step: PaymentSpec, answers: dict[str, Any],
                 citizen: interp.Applicant, today: date) -> int:
    """What ``step`` charges, in cents, over the answers so far; raises ``DefinitionFault`` or ``AmountFault``."""
    ctx = interp.context(citizen, answers, today, interp.number_types(snapshot), computed=snapshot.computed)
    ctx[FEES_VARIABLE] = dict(snapshot.fees)
    try:
        value = execute(_program(step.amount), ctx)
    except Exception as exc:  # as in interp.evaluate(): a fault of the definition, never a default amount
        raise interp.DefinitionFault(step.amount, str(exc).split(". ")[0]) from exc
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_FEE:
        raise AmountFault(f"the amount {step.amount!r} gave {value!r}, not a fee of HK$0.01 to HK${MAX_FEE:,.0f}")
    return round(value * 100)


def dollars(cents: int) -> str:
    """``HK$1,234.50``; whole dollars without cents, as ``hkd()`` shows money."""
    return f"HK${cents // 100:,}" if cents % 100 == 0 else f"HK${cents / 100:,.2f}"


def paid_entry(attempt: PaymentAttempt) -> dict[str, Any]:
    """A paid fee as the signed submission carries it: no card or account details, only what identifies it."""
    return {"paymentId": attempt.payment_id, "step": attempt.step_id, "amount": attempt.amount_cents / 100,
            "currency": attempt.currency, "method": attempt.method, "providerReference": attempt.provider_reference,
            "receiptId": attempt.receipt_id, "paidAt": attempt.settled_at.isoformat() if attempt.settled_at else None}
