"""The development payment provider at ``/dev-pay/``: a hosted payment page (FPS, PPS or card) that succeeds,
fails, is cancelled or left to time out, and signs a webhook for each outcome.

It speaks the acquirer REST API ``HttpAcquirer`` calls (``/dev-pay/api/...``, bearer key, ``Idempotency-Key``), so
development runs the production client. State lives in a small SQLite file under the data dir, so an API process
(which serves the page) and a worker process (which calls the API) of one development set-up share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from onestop.engine.payments.webhook import SIGNATURE_HEADER, sign

METHODS = {"fps": "FPS", "pps": "PPS", "card": "Card"}
OUTCOMES = ("succeeded", "failed", "cancelled")
WebhookSender = Callable[[bytes, dict[str, str]], Awaitable[int]]
"""Delivers one signed notification to the platform; answers the HTTP status it got."""


@dataclass
class SimulatedPayment:
    id: str
    amount: int
    currency: str
    description: str
    reference: str
    return_url: str
    status: str = "pending"
    method: str | None = None
    provider_reference: str | None = None
    refunds: dict[str, str] = field(default_factory=dict)
    # Every notification sent, exactly as signed, so a test (or a developer) can send one again.
    events: list[dict[str, str]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "amount": self.amount, "currency": self.currency,
                "method": self.method, "providerReference": self.provider_reference,
                "refunds": sorted(self.refunds.values()), "events": self.events}


class _Store:
    """The simulator's payments, by id and by the idempotency key that created each (a few rows; development)."""

    def __init__(self, path: Path | None) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", timeout=10, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, key TEXT UNIQUE, body TEXT)")

    def get(self, payment_id: str) -> SimulatedPayment | None:
        row = self._db.execute("SELECT body FROM payments WHERE id = ?", (payment_id,)).fetchone()
        return SimulatedPayment(**json.loads(row[0])) if row else None

    def by_key(self, key: str) -> SimulatedPayment | None:
        row = self._db.execute("SELECT body FROM payments WHERE key = ?", (key,)).fetchone()
        return SimulatedPayment(**json.loads(row[0])) if row else None

    def add(self, key: str, payment: SimulatedPayment) -> SimulatedPayment:
        try:
            self._db.execute("INSERT INTO payments (id, key, body) VALUES (?, ?, ?)",
                             (payment.id, key, json.dumps(dataclasses.asdict(payment))))
        except sqlite3.IntegrityError:  # the same key from another process at the same moment
            found = self.by_key(key)
            assert found is not None
            return found
        return payment

    def put(self, payment: SimulatedPayment) -> None:
        self._db.execute("UPDATE payments SET body = ? WHERE id = ?",
                         (json.dumps(dataclasses.asdict(payment)), payment.id))

    def close(self) -> None:
        self._db.close()


class PaymentSimulator:
    def __init__(self, *, api_key: str, webhook_secret: bytes, public_base: str,
                 send: WebhookSender | None = None, state: Path | None = None) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.public_base = public_base.rstrip("/")
        self.send = send
        self.store = _Store(state)
        self.app = Starlette(routes=[
            Route("/api/payments", self._create, methods=["POST"]),
            Route("/api/payments/{id}", self._show, methods=["GET"]),
            Route("/api/payments/{id}/cancel", self._cancel, methods=["POST"]),
            Route("/api/payments/{id}/refunds", self._refund, methods=["POST"]),
            Route("/api/payments/{id}/webhook", self._resend, methods=["POST"]),
            Route("/checkout/{id}", self._page, methods=["GET"]),
            Route("/checkout/{id}", self._complete, methods=["POST"]),
        ])

    # ---- the acquirer API ----

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode())

    async def _create(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        key = request.headers.get("idempotency-key", "")
        if not key:
            return JSONResponse({"error": "an Idempotency-Key header is required"}, status_code=400)
        known = self.store.by_key(key)
        if known is not None:
            return JSONResponse(self._created(known))
        body = await request.json()
        amount = body.get("amount")
        if not isinstance(amount, int) or amount <= 0 or body.get("currency") != "HKD":
            return JSONResponse({"error": "amount must be a positive number of cents, currency HKD"},
                                status_code=422)
        payment = SimulatedPayment(id=f"pay_{uuid.uuid4().hex[:24]}", amount=amount, currency="HKD",
                                   description=str(body.get("description", ""))[:200],
                                   reference=str(body.get("reference", ""))[:200],
                                   return_url=str(body.get("returnUrl", "")))
        return JSONResponse(self._created(self.store.add(key, payment)), status_code=201)

    def _created(self, payment: SimulatedPayment) -> dict[str, Any]:
        return {"id": payment.id, "status": payment.status, "url": f"{self.public_base}/checkout/{payment.id}"}

    async def _show(self, request: Request) -> Response:
        payment = self.store.get(request.path_params["id"])
        if not self._authorised(request) or payment is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(payment.public())

    async def _cancel(self, request: Request) -> Response:
        payment = self.store.get(request.path_params["id"])
        if not self._authorised(request) or payment is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if payment.status == "pending":
            payment.status = "expired"
            self.store.put(payment)
        return JSONResponse({"id": payment.id, "status": payment.status})

    async def _refund(self, request: Request) -> Response:
        payment = self.store.get(request.path_params["id"])
        if not self._authorised(request) or payment is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        key = request.headers.get("idempotency-key", "")
        if not key:
            return JSONResponse({"error": "an Idempotency-Key header is required"}, status_code=400)
        if payment.status != "succeeded":
            return JSONResponse({"error": f"payment is {payment.status}; only a succeeded payment is refunded"},
                                status_code=409)
        if key not in payment.refunds:
            if payment.refunds:
                return JSONResponse({"error": "already refunded in full"}, status_code=409)
            payment.refunds[key] = f"re_{uuid.uuid4().hex[:24]}"
            self.store.put(payment)
        return JSONResponse({"id": payment.refunds[key], "amount": payment.amount})

    async def _resend(self, request: Request) -> Response:
        """Send the last notification again, byte for byte and freshly signed (acquirers resend on request)."""
        payment = self.store.get(request.path_params["id"])
        if not self._authorised(request) or payment is None or not payment.events:
            return JSONResponse({"error": "not found"}, status_code=404)
        status = await self._deliver(payment.events[-1]["body"].encode())
        return JSONResponse({"delivered": status})

    # ---- the hosted page ----

    async def _page(self, request: Request) -> Response:
        payment = self.store.get(request.path_params["id"])
        if payment is None:
            return HTMLResponse(_page("Payment not found", "<p>There is no such payment.</p>"), status_code=404)
        if payment.status != "pending":
            return HTMLResponse(_page("Payment closed", f"<p>This payment is {escape(payment.status)}.</p>"
                                      f"{_back(payment)}"), status_code=409)
        methods = "".join(
            f'<label><input type="radio" name="method" value="{key}"{" checked" if key == "fps" else ""}> '
            f"{label}</label><br>" for key, label in METHODS.items())
        body = (f"<p>{escape(payment.description)}</p><p><strong>HK${payment.amount / 100:,.2f}</strong></p>"
                f'<form method="post"><fieldset><legend>Pay with</legend>{methods}</fieldset>'
                '<button name="outcome" value="succeeded">Pay</button> '
                '<button name="outcome" value="failed">Simulate a declined payment</button> '
                '<button name="outcome" value="cancelled">Cancel</button></form>'
                f"<p>Or leave this page to let the payment time out. {_back(payment, 'Leave without paying')}</p>")
        return HTMLResponse(_page("Development payment page", body))

    async def _complete(self, request: Request) -> Response:
        payment = self.store.get(request.path_params["id"])
        if payment is None:
            return HTMLResponse(_page("Payment not found", "<p>There is no such payment.</p>"), status_code=404)
        form = await request.form()
        outcome, method = str(form.get("outcome", "")), str(form.get("method", "fps"))
        if outcome not in OUTCOMES or method not in METHODS:
            return HTMLResponse(_page("Not understood", "<p>Choose an outcome and a method.</p>"), status_code=400)
        if payment.status != "pending":
            return HTMLResponse(_page("Payment closed", f"<p>This payment is {escape(payment.status)}.</p>"
                                      f"{_back(payment)}"), status_code=409)
        payment.status, payment.method = outcome, method
        if outcome == "succeeded":
            digest = hashlib.sha256(payment.id.encode()).hexdigest()[:10].upper()
            payment.provider_reference = f"{METHODS[method].upper()}-{digest}"
        await self.notify(payment)
        if payment.return_url and _same_origin_or_loopback(payment.return_url, self.public_base):
            return RedirectResponse(payment.return_url, status_code=303)
        return HTMLResponse(_page("Done", f"<p>The payment {escape(outcome)}.</p>"))

    async def notify(self, payment: SimulatedPayment) -> int:
        """Sign and send the notification of the payment's outcome."""
        body = json.dumps({"id": f"evt_{uuid.uuid4().hex[:24]}", "paymentId": payment.id,
                           "result": payment.status, "method": payment.method,
                           "providerReference": payment.provider_reference, "amount": payment.amount,
                           "currency": payment.currency, "created": int(time.time())},
                          separators=(",", ":")).encode()
        payment.events.append({"body": body.decode()})
        self.store.put(payment)
        return await self._deliver(body)

    async def _deliver(self, body: bytes) -> int:
        if self.send is None:
            return 0
        return await self.send(body, {SIGNATURE_HEADER: sign(body, self.webhook_secret)})


def _back(payment: SimulatedPayment, label: str = "Return to the service") -> str:
    return f'<a href="{escape(payment.return_url)}">{escape(label)}</a>' if payment.return_url else ""


def _same_origin_or_loopback(url: str, base: str) -> bool:
    # Not an open redirector: back to the platform's own origin, or a loopback development frontend.
    target, own = urlsplit(url), urlsplit(base)
    return (target.scheme, target.netloc) == (own.scheme, own.netloc) or target.hostname in (
        "127.0.0.1", "localhost", "::1")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
            f"<body><main><h1>{escape(title)}</h1><p><em>Development payment provider: no money moves.</em></p>"
            f"{body}</main></body></html>")
