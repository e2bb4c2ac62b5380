"""The ``payments`` and ``payment_events`` tables: which application a payment belongs to, its status for the
department, its signed receipt, and the webhooks already handled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from onestop.engine.db import Database, utcnow
from onestop.engine.db.tables import PaymentEventRow, PaymentRow
from onestop.workflows.payments import CreatePayment, HostedPayment


@dataclass(frozen=True)
class PaymentRecord:
    payment_id: str
    application_id: str
    step_id: str
    amount_cents: int
    currency: str
    status: str
    method: str | None
    provider_reference: str | None
    receipt_id: str | None
    receipt: str | None
    refund_id: str | None
    updated_at: datetime


def _record(row: PaymentRow) -> PaymentRecord:
    return PaymentRecord(row.payment_id, row.application_id, row.step_id, row.amount_cents, row.currency, row.status,
                         row.method, row.provider_reference, row.receipt_id, row.receipt, row.refund_id,
                         row.updated_at)


class PaymentRecords:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def by_key(self, idempotency_key: str) -> PaymentRecord | None:
        async with self.database.session() as session:
            row = await session.scalar(select(PaymentRow).where(PaymentRow.idempotency_key == idempotency_key))
            return _record(row) if row else None

    async def created(self, request: CreatePayment, hosted: HostedPayment) -> None:
        now = utcnow()
        try:
            async with self.database.session() as session:
                session.add(PaymentRow(
                    payment_id=hosted.payment_id, application_id=request.application_id, step_id=request.step_id,
                    attempt=request.attempt, idempotency_key=request.idempotency_key,
                    amount_cents=request.amount_cents, currency=request.currency, status="PENDING",
                    created_at=now, updated_at=now))
        except IntegrityError:
            pass  # a retry of the same creation: the provider answered with the same payment, already recorded

    async def get(self, payment_id: str) -> PaymentRecord | None:
        async with self.database.session() as session:
            row = await session.get(PaymentRow, payment_id)
            return _record(row) if row else None

    async def for_application(self, application_id: str) -> list[PaymentRecord]:
        async with self.database.session() as session:
            rows = await session.scalars(select(PaymentRow).where(PaymentRow.application_id == application_id)
                                         .order_by(PaymentRow.created_at))
            return [_record(row) for row in rows]

    async def update(self, payment_id: str, *, status: str, method: str | None = None,
                     provider_reference: str | None = None, receipt_id: str | None = None,
                     receipt: str | None = None, refund_id: str | None = None) -> None:
        async with self.database.session() as session:
            row = await session.get(PaymentRow, payment_id)
            if row is None:
                return
            row.status = status
            row.method = method or row.method
            row.provider_reference = provider_reference or row.provider_reference
            row.receipt_id = receipt_id or row.receipt_id
            row.receipt = receipt or row.receipt
            row.refund_id = refund_id or row.refund_id
            row.updated_at = utcnow()

    async def seen(self, event_id: str) -> bool:
        async with self.database.session() as session:
            return await session.get(PaymentEventRow, event_id) is not None

    async def handled(self, event_id: str, payment_id: str, result: str) -> None:
        try:
            async with self.database.session() as session:
                session.add(PaymentEventRow(event_id=event_id, payment_id=payment_id, result=result,
                                            received_at=utcnow()))
        except IntegrityError:
            pass  # the same event handled concurrently: the workflow ignored the second signal
