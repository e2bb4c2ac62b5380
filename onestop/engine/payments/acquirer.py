"""``HttpAcquirer``: the provider interface over an acquirer's REST API (JSON, bearer key, Idempotency-Key).

The development simulator at ``/dev-pay/`` speaks the same API, so development exercises this very client; a real
acquirer needs its own adapter only where its API differs.
"""

from __future__ import annotations

from typing import Any

import httpx

from onestop.engine.payments.provider import PaymentProviderError
from onestop.workflows.payments import CreatePayment, HostedPayment, ProviderResult


class HttpAcquirer:
    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    async def create(self, request: CreatePayment) -> HostedPayment:
        # Only the amount and an opaque reference leave the platform: no name, no identity card number.
        data = await self._post("/payments", request.idempotency_key, {
            "amount": request.amount_cents, "currency": request.currency,
            "description": request.description.get("en", ""), "reference": request.idempotency_key,
            "returnUrl": request.return_url,
        })
        return HostedPayment(payment_id=str(data["id"]), url=str(data["url"]))

    async def cancel(self, payment_id: str, idempotency_key: str) -> ProviderResult:
        data = await self._post(f"/payments/{payment_id}/cancel", idempotency_key, {})
        return ProviderResult(data["status"])

    async def refund(self, payment_id: str, amount_cents: int, idempotency_key: str) -> str:
        data = await self._post(f"/payments/{payment_id}/refunds", idempotency_key, {"amount": amount_cents})
        return str(data["id"])

    async def _post(self, path: str, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(
                f"{self.base_url}{path}", json=body,
                headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": idempotency_key})
        except httpx.HTTPError as exc:
            raise PaymentProviderError(f"the payment provider cannot be reached: {exc}", transient=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise PaymentProviderError(f"the payment provider answered {response.status_code}", transient=True)
        if response.status_code >= 400:
            raise PaymentProviderError(f"the payment provider refused: {response.status_code} {response.text[:200]}",
                                       transient=False)
        result: dict[str, Any] = response.json()
        return result
