"""The workflow's appointment activities: hold, confirm and release places, and the day-before hook."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio import activity

from onestop.engine.appointments.store import Hold, SlotStore
from onestop.engine.db.database import utcnow
from onestop.workflows.contracts import Activity, BookingRef, ReminderDue, SlotRequest, SlotResult

log = logging.getLogger(__name__)

ReminderHook = Callable[[ReminderDue], Awaitable[None]]
"""What happens when an appointment's reminder is due: the notices engine sends the reminder notice from here."""


async def no_reminder(due: ReminderDue) -> None:
    """The default hook: the due time is recorded and logged; no notice is sent until notices are wired in."""


@dataclass
class AppointmentActivities:
    slots: SlotStore
    reminder_hook: ReminderHook = field(default=no_reminder)

    @activity.defn(name=Activity.HOLD_SLOT)
    async def hold_slot(self, request: SlotRequest) -> SlotResult:
        booked = await self.slots.hold(Hold(
            booking_id=request.booking_id, application_id=request.application_id, service_id=request.service_id,
            office=request.office, starts_at=request.start, ends_at=request.end, capacity=request.capacity,
            held_until=request.held_until, release=request.release))
        return SlotResult(booked)

    @activity.defn(name=Activity.CONFIRM_SLOT)
    async def confirm_slot(self, ref: BookingRef) -> None:
        await self.slots.confirm(ref.booking_id)

    @activity.defn(name=Activity.RELEASE_SLOT)
    async def release_slot(self, ref: BookingRef) -> None:
        await self.slots.release(ref.booking_id)

    @activity.defn(name=Activity.APPOINTMENT_REMINDER_DUE)
    async def appointment_reminder_due(self, due: ReminderDue) -> None:
        """The day-before timer fired: record it (idempotent), then call the reminder hook."""
        await self.slots.reminder_due(due.booking_id, utcnow())
        log.info("appointment reminder due", extra={"booking_id": due.booking_id, "service_id": due.service_id})
        await self.reminder_hook(due)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.hold_slot, self.confirm_slot, self.release_slot, self.appointment_reminder_due]
