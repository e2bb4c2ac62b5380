"""Fees: the payment provider interface, its HTTP acquirer client, signed webhooks, receipts and refunds."""

from onestop.engine.payments.acquirer import HttpAcquirer
from onestop.engine.payments.activities import RECEIPT_TYPE, PaymentActivities, receipt_id_for
from onestop.engine.payments.provider import PaymentProvider, PaymentProviderError
from onestop.engine.payments.records import PaymentRecord, PaymentRecords
from onestop.engine.payments.service import PaymentService
from onestop.engine.payments.webhook import SIGNATURE_HEADER, WebhookEvent, WebhookRefused, sign, verify

__all__ = [
    "RECEIPT_TYPE", "SIGNATURE_HEADER", "HttpAcquirer", "PaymentActivities", "PaymentProvider",
    "PaymentProviderError", "PaymentRecord", "PaymentRecords", "PaymentService", "WebhookEvent", "WebhookRefused",
    "receipt_id_for", "sign", "verify",
]
