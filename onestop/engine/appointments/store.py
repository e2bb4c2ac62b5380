"""Slot places in the database: the one place that decides who gets the last one.

``hold`` raises a slot's ``booked`` count with one conditional UPDATE (``booked < capacity``), in the same
transaction as the booking row, so however many bookers race, a slot never takes more than its capacity:
SQLite serialises writers, PostgreSQL locks the row for the update. Every operation is idempotent by booking id,
because Temporal retries activities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Executable, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from onestop.engine.db import Database
from onestop.engine.db.database import utcnow
from onestop.engine.db.tables import AppointmentBookingRow, AppointmentSlotRow

HELD = "held"
CONFIRMED = "confirmed"
RELEASED = "released"


@dataclass(frozen=True)
class Hold:
    booking_id: str
    application_id: str
    service_id: str
    office: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    held_until: datetime | None
    # A booking of the same application to give back in the same transaction (a reschedule).
    release: str | None = None


@dataclass(frozen=True)
class BookingRecord:
    booking_id: str
    application_id: str
    office: str
    starts_at: datetime
    ends_at: datetime
    state: str
    held_until: datetime | None
    reminder_due_at: datetime | None


class SlotStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def hold(self, hold: Hold) -> bool:
        """Take one place of the slot for ``hold.booking_id``; False when the slot is full. A retry of a hold
        that succeeded answers True again without taking a second place."""
        async with self.database.session() as session:
            # The write comes first: on SQLite it takes the write lock before anything is read, so concurrent
            # transactions queue (busy timeout) instead of failing to upgrade a read lock.
            await session.execute(self._insert_slot(session, hold))
            existing = await session.get(AppointmentBookingRow, hold.booking_id)
            if existing is not None:
                return existing.state != RELEASED
            taken = await session.execute(
                update(AppointmentSlotRow)
                .where(self._slot(hold.service_id, hold.office, hold.starts_at),
                       AppointmentSlotRow.booked < hold.capacity)
                .values(booked=AppointmentSlotRow.booked + 1))
            if _count(taken) != 1:
                return False
            session.add(AppointmentBookingRow(
                id=hold.booking_id, application_id=hold.application_id, service_id=hold.service_id,
                office=hold.office, starts_at=hold.starts_at, ends_at=hold.ends_at,
                state=HELD if hold.held_until is not None else CONFIRMED, held_until=hold.held_until,
                created_at=utcnow(), released_at=None, reminder_due_at=None))
            if hold.release is not None:
                await self._release(session, hold.release)
            return True

    async def confirm(self, booking_id: str) -> bool:
        """A held booking becomes the citizen's for good (the application was submitted)."""
        async with self.database.session() as session:
            done = await session.execute(
                update(AppointmentBookingRow)
                .where(AppointmentBookingRow.id == booking_id, AppointmentBookingRow.state == HELD)
                .values(state=CONFIRMED, held_until=None))
            return _count(done) == 1

    async def release(self, booking_id: str) -> bool:
        """Give the place back; False when it was already given back (or never taken)."""
        async with self.database.session() as session:
            return await self._release(session, booking_id)

    async def _release(self, session: AsyncSession, booking_id: str) -> bool:
        # The state change guards the count: only the transaction that moves the booking to RELEASED gives the
        # place back, however often a release is retried.
        row = await session.get(AppointmentBookingRow, booking_id)
        if row is None or row.state == RELEASED:
            return False
        done = await session.execute(
            update(AppointmentBookingRow)
            .where(AppointmentBookingRow.id == booking_id, AppointmentBookingRow.state != RELEASED)
            .values(state=RELEASED, released_at=utcnow(), held_until=None))
        if _count(done) != 1:
            return False
        await session.execute(
            update(AppointmentSlotRow)
            .where(self._slot(row.service_id, row.office, row.starts_at))
            .values(booked=AppointmentSlotRow.booked - 1))
        return True

    async def reminder_due(self, booking_id: str, at: datetime) -> None:
        async with self.database.session() as session:
            await session.execute(
                update(AppointmentBookingRow)
                .where(AppointmentBookingRow.id == booking_id, AppointmentBookingRow.reminder_due_at.is_(None))
                .values(reminder_due_at=at))

    async def booked(self, service_id: str, office: str, first: datetime, last: datetime) -> dict[datetime, int]:
        """Places taken per slot start of one office in ``[first, last]``."""
        async with self.database.session() as session:
            rows = await session.execute(
                select(AppointmentSlotRow.starts_at, AppointmentSlotRow.booked)
                .where(AppointmentSlotRow.service_id == service_id, AppointmentSlotRow.office == office,
                       AppointmentSlotRow.starts_at >= first, AppointmentSlotRow.starts_at <= last))
            return {start: count for start, count in rows}

    async def bookings(self, application_id: str) -> Sequence[BookingRecord]:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(AppointmentBookingRow).where(AppointmentBookingRow.application_id == application_id)
                .order_by(AppointmentBookingRow.created_at))
            return [BookingRecord(r.id, r.application_id, r.office, r.starts_at, r.ends_at, r.state, r.held_until,
                                  r.reminder_due_at) for r in rows]

    async def count_active(self, service_id: str, office: str, starts_at: datetime) -> int:
        """Bookings not released for one slot (tests and checks: it always equals the slot's ``booked``)."""
        async with self.database.session() as session:
            found = await session.scalar(
                select(func.count()).select_from(AppointmentBookingRow).where(and_(
                    AppointmentBookingRow.service_id == service_id, AppointmentBookingRow.office == office,
                    AppointmentBookingRow.starts_at == starts_at, AppointmentBookingRow.state != RELEASED)))
            return int(found or 0)

    @staticmethod
    def _slot(service_id: str, office: str, starts_at: datetime) -> ColumnElement[bool]:
        return and_(AppointmentSlotRow.service_id == service_id, AppointmentSlotRow.office == office,
                    AppointmentSlotRow.starts_at == starts_at)

    @staticmethod
    def _insert_slot(session: AsyncSession, hold: Hold) -> Executable:
        values = {"service_id": hold.service_id, "office": hold.office, "starts_at": hold.starts_at, "booked": 0}
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        return insert(AppointmentSlotRow).values(**values).on_conflict_do_nothing()


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
