"""``PaymentService``: the provider's webhook into the application's workflow, and payment records for readers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from onestop.engine.payments import webhook
from onestop.engine.payments.provider import PaymentProvider, PaymentProviderError
from onestop.engine.payments.records import PaymentRecord, PaymentRecords
from onestop.workflows.payments import SIGNAL_PAYMENT_RESULT, PaymentOutcome, ProviderResult

log = logging.getLogger(__name__)


class PaymentService:
    def __init__(self, records: PaymentRecords, webhook_secret: bytes, *, client: Client | None = None,
                 provider: PaymentProvider | None = None, timeout_seconds: float = 900.0) -> None:
        self.records = records
        self.webhook_secret = webhook_secret
        self.client = client
        self.provider = provider
        self.timeout_seconds = timeout_seconds

    @property
    def available(self) -> bool:
        return self.provider is not None

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        """Handle one webhook delivery; answers (HTTP status, word). 2xx tells the provider to stop resending.

        The workflow is the authority: a payment already settled ignores the news, so a duplicate that slips past
        the event table changes nothing either.
        """
        try:
            event = webhook.verify(body, headers.get(webhook.SIGNATURE_HEADER), self.webhook_secret)
        except webhook.WebhookRefused as refused:
            log.warning("payment webhook refused: %s", refused.message)
            return 400, refused.message
        if await self.records.seen(event.event_id):
            return 200, "duplicate"
        record = await self.records.get(event.payment_id)
        if record is None:
            return 404, "unknown payment"
        if self.client is None:
            return 503, "applications are not available in this process"
        outcome = PaymentOutcome(event.payment_id, event.result, event.event_id, event.method,
                                 event.provider_reference)
        try:
            await self.client.get_workflow_handle(record.application_id).signal(SIGNAL_PAYMENT_RESULT, outcome)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                return 503, "try again"
            await self._orphan(record, event)  # the application has ended: no workflow will take the money
        await self.records.handled(event.event_id, event.payment_id, event.result.value)
        return 200, "ok"

    async def _orphan(self, record: PaymentRecord, event: webhook.WebhookEvent) -> None:
        if event.result is not ProviderResult.SUCCEEDED or record.status in ("PAID", "REFUNDED"):
            return
        if self.provider is None:
            log.error("payment %s succeeded for a closed application and no provider can refund it",
                      record.payment_id)
            return
        try:
            refund_id = await self.provider.refund(record.payment_id, record.amount_cents,
                                                   f"refund:{record.payment_id}")
        except PaymentProviderError:
            log.exception("refund of payment %s for a closed application failed", record.payment_id)
            raise
        await self.records.update(record.payment_id, status="REFUNDED", refund_id=refund_id)

    async def for_application(self, application_id: str) -> list[PaymentRecord]:
        return await self.records.for_application(application_id)
