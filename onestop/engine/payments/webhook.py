"""Signed webhooks: HMAC-SHA256 over the timestamp and the exact body, as acquirers sign their notifications.

The header reads ``t=<unix seconds>,v1=<hex digest>``; the digest covers ``"<t>." + body``, so neither the body
nor the time can be changed, and an old notification replayed after the tolerance is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from onestop.workflows.payments import ProviderResult

SIGNATURE_HEADER = "Onestop-Pay-Signature"
TOLERANCE_SECONDS = 300


class WebhookRefused(Exception):
    """The notification is not authentic, too old, or not understood; ``message`` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    payment_id: str
    result: ProviderResult
    method: str | None = None
    provider_reference: str | None = None


def sign(body: bytes, secret: bytes, *, timestamp: int | None = None) -> str:
    """The signature header's value for ``body``."""
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(body: bytes, header: str | None, secret: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> WebhookEvent:
    """The event of an authentic, recent notification; raises ``WebhookRefused`` otherwise."""
    if not header:
        raise WebhookRefused(f"the {SIGNATURE_HEADER} header is missing")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        at = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise WebhookRefused(f"the {SIGNATURE_HEADER} header must read t=<seconds>,v1=<hex>") from None
    expected = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise WebhookRefused("the signature does not match the body")
    if abs((time.time() if now is None else now) - at) > tolerance:
        raise WebhookRefused(f"the notification is older than {tolerance} seconds")
    try:
        data = json.loads(body)
        return WebhookEvent(event_id=str(data["id"]), payment_id=str(data["paymentId"]),
                            result=ProviderResult(data["result"]), method=data.get("method"),
                            provider_reference=data.get("providerReference"))
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookRefused(f"the notification is not a payment event: {exc}") from exc
