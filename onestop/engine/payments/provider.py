"""The payment provider interface: what the engine needs from an acquirer's hosted payment page."""

from __future__ import annotations

from typing import Protocol

from onestop.workflows.payments import CreatePayment, HostedPayment, ProviderResult


class PaymentProviderError(Exception):
    """The provider could not do what was asked; ``transient`` failures are worth retrying."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class PaymentProvider(Protocol):
    """A hosted-payment acquirer. Every call that moves money carries an idempotency key, so a retried call
    returns the first call's answer and never charges or refunds twice."""

    async def create(self, request: CreatePayment) -> HostedPayment:
        """Open a hosted payment page for ``request.amount_cents``; the same key gives the same payment."""
        ...

    async def cancel(self, payment_id: str, idempotency_key: str) -> ProviderResult:
        """Close the page so it can no longer be paid; answers what became of the payment (it may have
        succeeded just before)."""
        ...

    async def refund(self, payment_id: str, amount_cents: int, idempotency_key: str) -> str:
        """Refund a succeeded payment in full; answers the refund's id (the same one for the same key)."""
        ...
