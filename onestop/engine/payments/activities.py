"""The workflow's payment activities: open a hosted page, cancel it, refund, and sign the receipt."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from onestop.engine.crypto.signing import Signer
from onestop.engine.payments.provider import PaymentProvider, PaymentProviderError
from onestop.engine.payments.records import PaymentRecords
from onestop.workflows.payments import (
    SETTLED,
    CancelPayment,
    CreatePayment,
    HostedPayment,
    PaymentActivity,
    ProviderResult,
    Receipt,
    ReceiptRequest,
    RefundPayment,
    RefundResult,
)

RECEIPT_TYPE = "onestop-receipt+jws"


def receipt_id_for(payment_id: str) -> str:
    """One receipt per payment, the same on every retry."""
    return "RCPT-" + hashlib.sha256(payment_id.encode()).hexdigest()[:16].upper()


@dataclass
class PaymentActivities:
    provider: PaymentProvider | None
    records: PaymentRecords
    signer: Signer

    def _provider(self) -> PaymentProvider:
        if self.provider is None:
            raise ApplicationError("no payment provider is configured (ONESTOP_PAYMENT_PROVIDER_URL)",
                                   type="NOT_CONFIGURED", non_retryable=True)
        return self.provider

    @activity.defn(name=PaymentActivity.CREATE)
    async def create_payment(self, request: CreatePayment) -> HostedPayment:
        # The provider answers a repeated key with the same payment and page: a retry never opens a second one.
        try:
            hosted = await self._provider().create(request)
        except PaymentProviderError as exc:
            raise ApplicationError(exc.message, type="PAYMENT_PROVIDER", non_retryable=not exc.transient) from exc
        await self.records.created(request, hosted)
        return hosted

    @activity.defn(name=PaymentActivity.CANCEL)
    async def cancel_payment(self, request: CancelPayment) -> ProviderResult:
        try:
            result = await self._provider().cancel(request.payment_id, request.idempotency_key)
        except PaymentProviderError as exc:
            raise ApplicationError(exc.message, type="PAYMENT_PROVIDER", non_retryable=not exc.transient) from exc
        settled = SETTLED.get(result)
        if settled is not None and result is not ProviderResult.SUCCEEDED:
            await self.records.update(request.payment_id, status=settled.value)
        return result

    @activity.defn(name=PaymentActivity.REFUND)
    async def refund_payment(self, request: RefundPayment) -> RefundResult:
        try:
            refund_id = await self._provider().refund(request.payment_id, request.amount_cents,
                                                      request.idempotency_key)
        except PaymentProviderError as exc:
            raise ApplicationError(exc.message, type="PAYMENT_PROVIDER", non_retryable=not exc.transient) from exc
        await self.records.update(request.payment_id, status="REFUNDED", refund_id=refund_id)
        return RefundResult(refund_id)

    @activity.defn(name=PaymentActivity.RECEIPT)
    async def issue_receipt(self, request: ReceiptRequest) -> Receipt:
        receipt_id = receipt_id_for(request.payment_id)
        jws = self.signer.sign({
            "type": "onestop.receipt.v1",
            "receiptId": receipt_id,
            "applicationId": request.application_id,
            "service": request.service_id,
            "department": request.department,
            "citizen": request.citizen_ref,
            "description": dict(request.description),
            "amount": {"value": request.amount_cents / 100, "currency": request.currency},
            "paymentId": request.payment_id,
            "method": request.method,
            "providerReference": request.provider_reference,
            "paidAt": request.paid_at.isoformat(),
        }, typ=RECEIPT_TYPE)
        await self.records.update(request.payment_id, status="PAID", method=request.method,
                                  provider_reference=request.provider_reference, receipt_id=receipt_id,
                                  receipt=jws)
        return Receipt(receipt_id)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.create_payment, self.cancel_payment, self.refund_payment, self.issue_receipt]
