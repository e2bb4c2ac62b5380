"""The appointment slots one application holds: booking, holds that expire, confirmation, release, reminders.

Workflow code (deterministic, no I/O): the places themselves are counted by the engine's activities, in the
database, where one conditional UPDATE decides who gets the last place. A hold is a durable timer here; it ends
with the submission (the booking is confirmed) or by releasing the place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from onestop.workflows import slots
    from onestop.workflows.contracts import (
        BOOKING_CONFIRMED,
        BOOKING_HELD,
        Activity,
        BookAppointment,
        Booking,
        BookingRef,
        ReminderDue,
        SlotRequest,
        SlotResult,
        Status,
    )
    from onestop.workflows.interpreter import FieldError
    from onestop.workflows.snapshot import AppointmentSpec, ServiceSnapshot, StepSpec

_TIMEOUT = timedelta(seconds=30)
_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                     maximum_interval=timedelta(seconds=10))
# Releasing and confirming must happen: they retry until they do (each is idempotent in the database).
_FOREVER = timedelta(days=7)
# Booking can be given up on: the citizen is waiting and may try another time.
_BOOK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=5)
RESCHEDULABLE = frozenset({Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO, Status.DELIVERY_FAILED})
RELEASED_WHEN = frozenset({Status.WITHDRAWN, Status.EXPIRED, Status.NOT_ELIGIBLE, Status.REJECTED})
"""A booking's place goes back to others when the application ends this way."""


def _error(path: str, code: str, en: str, tc: str) -> FieldError:
    return FieldError([path] if path else [], code, {"en": en, "tc": tc})


class Appointments:
    def __init__(self, application_id: str, service_id: str, citizen_ref: str, bookings: list[Booking],
                 on_reminder: Callable[[Booking], None] | None = None) -> None:
        self._on_reminder = on_reminder
        self._application_id = application_id
        self._service_id = service_id
        self._citizen_ref = citizen_ref
        self._bookings = {b.step_id: b for b in bookings}

    def all(self) -> list[Booking]:
        return list(self._bookings.values())

    def __bool__(self) -> bool:
        return bool(self._bookings)

    # ---- the citizen books ----

    def problem(self, snapshot: ServiceSnapshot, action: BookAppointment, status: Status, current: StepSpec | None,
                now: datetime) -> FieldError | None:
        """Why the booking is refused before anything is recorded, or None."""
        spec = snapshot.step(action.step_id)
        if not isinstance(spec, AppointmentSpec):
            return _error("stepId", "WRONG_ACTION", f"Step {action.step_id!r} is not an appointment step.",
                          f"步驟 {action.step_id!r} 並非預約步驟。")
        booked = self._bookings.get(spec.id)
        if status is Status.DRAFT:
            if booked is None and (current is None or current.id != spec.id):
                now_at = current.id if current else "none"
                return _error("stepId", "NOT_CURRENT_STEP",
                              f"Step {spec.id!r} is not the current step (the current step is {now_at!r}).",
                              f"步驟 {spec.id!r} 並非目前步驟（目前步驟為 {now_at!r}）。")
        elif status not in RESCHEDULABLE or booked is None:
            return _error("", "NOT_A_DRAFT", f"The application is {status.value}; its appointment cannot change.",
                          f"申請狀態為 {status.value}，預約無法更改。")
        found = slots.slot_problem(spec, action.office, action.start, now)
        if found is not None and action.office not in {o.value for o in spec.offices}:
            return _error("office", "UNKNOWN_OFFICE", *found)
        if found is not None:
            return _error("start", "INVALID_SLOT", *found)
        if booked is not None and booked.office == action.office and booked.start == action.start:
            return _error("start", "ALREADY_BOOKED", "You already have this time.", "你已預約此時間。")
        return None

    async def book(self, spec: AppointmentSpec, action: BookAppointment, *, confirmed: bool) -> bool:
        """Take a place (releasing the step's earlier booking in the same transaction); False when full."""
        old = self._bookings.get(spec.id)
        start = action.start.astimezone(slots.HONG_KONG)
        held_until = None if confirmed else workflow.now() + timedelta(seconds=spec.hold_seconds)
        booking = Booking(booking_id=f"{self._application_id}/{spec.id}/{workflow.uuid4().hex[:12]}",
                          step_id=spec.id, office=action.office, start=start, end=slots.end_of(spec, start),
                          state=BOOKING_CONFIRMED if confirmed else BOOKING_HELD, held_until=held_until,
                          reminder_seconds=spec.reminder_seconds)
        result: SlotResult = await workflow.execute_activity(
            Activity.HOLD_SLOT,
            SlotRequest(booking.booking_id, self._application_id, self._service_id, booking.office, booking.start,
                        booking.end, spec.capacity, held_until, old.booking_id if old else None),
            start_to_close_timeout=_TIMEOUT, retry_policy=_BOOK_RETRY, result_type=SlotResult,
        )
        if result.booked:
            self._bookings[spec.id] = booking
        return result.booked

    # ---- holds, submission, the end ----

    def hold_lapsed(self, now: datetime) -> bool:
        """A hold ran out (the timer may not have fired yet): submitting now would be refused."""
        return any(b.state == BOOKING_HELD and b.held_until is not None and b.held_until <= now
                   for b in self._bookings.values())

    def next_due(self, status: Status) -> datetime | None:
        """When the workflow next has something to do for a booking: a hold running out, or a reminder."""
        if status is Status.DRAFT:
            due = [b.held_until for b in self._bookings.values() if b.state == BOOKING_HELD and b.held_until]
        elif status in RELEASED_WHEN:
            due = []
        else:
            due = [slots.reminder_at(b.start, b.reminder_seconds) for b in self._bookings.values()
                   if b.state == BOOKING_CONFIRMED and not b.reminded]
        return min(due) if due else None

    async def expire_holds(self) -> list[str]:
        """Release every hold that has run out; the ids of their steps (the citizen books those again)."""
        now = workflow.now()
        lapsed = [b for b in self._bookings.values()
                  if b.state == BOOKING_HELD and b.held_until is not None and b.held_until <= now]
        for booking in lapsed:
            await self._release(booking)
        return [b.step_id for b in lapsed if b.step_id not in self._bookings]

    async def confirm(self) -> None:
        for booking in list(self._bookings.values()):
            if booking.state == BOOKING_HELD:
                await workflow.execute_activity(
                    Activity.CONFIRM_SLOT, BookingRef(booking.booking_id), start_to_close_timeout=_TIMEOUT,
                    schedule_to_close_timeout=_FOREVER, retry_policy=_RETRY, result_type=type(None))
                self._bookings[booking.step_id] = replace(booking, state=BOOKING_CONFIRMED, held_until=None)

    async def release_all(self) -> None:
        for booking in list(self._bookings.values()):
            await self._release(booking)

    async def _release(self, booking: Booking) -> None:
        await workflow.execute_activity(
            Activity.RELEASE_SLOT, BookingRef(booking.booking_id), start_to_close_timeout=_TIMEOUT,
            schedule_to_close_timeout=_FOREVER, retry_policy=_RETRY, result_type=type(None))
        # An update may have booked the step again while the release ran: keep that newer booking.
        if self._bookings.get(booking.step_id) == booking:
            del self._bookings[booking.step_id]

    async def remind_due(self, *, wait: bool = False) -> bool:
        """Run the reminder hook of every confirmed booking whose time has come (with ``wait``, sleep until the
        last one first: an application decided before its appointment still gets the reminder)."""
        sent = False
        for booking in sorted(self._bookings.values(), key=lambda b: b.start):
            if booking.state != BOOKING_CONFIRMED or booking.reminded:
                continue
            due = slots.reminder_at(booking.start, booking.reminder_seconds)
            if due > workflow.now():
                if not wait:
                    continue
                await workflow.sleep(due - workflow.now())
            await workflow.execute_activity(
                Activity.APPOINTMENT_REMINDER_DUE,
                ReminderDue(self._application_id, self._citizen_ref, self._service_id, booking.booking_id,
                            booking.office, booking.start),
                start_to_close_timeout=_TIMEOUT, schedule_to_close_timeout=_FOREVER, retry_policy=_RETRY,
                result_type=type(None))
            self._bookings[booking.step_id] = replace(booking, reminded=True)
            if self._on_reminder is not None:
                self._on_reminder(booking)
            sent = True
        return sent
