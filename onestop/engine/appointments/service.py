"""``AppointmentService``: free places per slot (public), and the citizen's calendar file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from onestop.engine.appointments.calendar import ics
from onestop.engine.appointments.store import SlotStore
from onestop.engine.errors import FieldError, InvalidInput, NotFound
from onestop.workflows import slots
from onestop.workflows.contracts import Booking
from onestop.workflows.snapshot import AppointmentSpec, ServiceSnapshot, Text


@dataclass(frozen=True)
class SlotAvailability:
    start: datetime
    end: datetime
    remaining: int


def _error(path: str, code: str, en: str, tc: str) -> FieldError:
    return FieldError([path], code, {"en": en, "tc": tc})


class AppointmentService:
    def __init__(self, slots_store: SlotStore, snapshots: Callable[[str], ServiceSnapshot | None]) -> None:
        self.slots = slots_store
        self.snapshots = snapshots

    def step(self, service_slug: str, step_id: str) -> AppointmentSpec:
        """The appointment step of a service as currently published."""
        snapshot = self.snapshots(service_slug)
        if snapshot is None:
            raise NotFound("service", service_slug)
        spec = snapshot.step(step_id)
        if not isinstance(spec, AppointmentSpec):
            raise NotFound("appointment step", step_id)
        return spec

    async def availability(self, service_id: str, spec: AppointmentSpec, office: str, first: date, last: date, *,
                           now: datetime | None = None) -> list[SlotAvailability]:
        """Every bookable slot of ``office`` from ``first`` to ``last`` (Hong Kong dates) with its free places;
        full slots are listed with 0, so a frontend can show them taken."""
        if office not in {o.value for o in spec.offices}:
            raise InvalidInput([_error("office", "UNKNOWN_OFFICE", f"There is no office {office!r} for this "
                                       "appointment.", f"此預約沒有辦事處 {office!r}。")])
        if last < first or (last - first).days >= slots.MAX_RANGE_DAYS:
            raise InvalidInput([_error("to", "INVALID_RANGE",
                                       f"Ask for 1 to {slots.MAX_RANGE_DAYS} days, with `to` on or after `from`.",
                                       f"請查詢1至{slots.MAX_RANGE_DAYS}日，結束日期不可早於開始日期。")])
        starts = list(slots.bookable_between(spec, first, last, now or datetime.now(UTC)))
        if not starts:
            return []
        taken = await self.slots.booked(service_id, office, starts[0], starts[-1])
        counts = {start.astimezone(UTC): count for start, count in taken.items()}
        return [SlotAvailability(start, slots.end_of(spec, start),
                                 max(spec.capacity - counts.get(start.astimezone(UTC), 0), 0)) for start in starts]

    @staticmethod
    def calendar_file(booking: Booking, *, service_title: Text, office_label: Text | None, reference: str | None,
                      lang: str = "en") -> str:
        title = service_title.get(lang) or service_title.get("en", "")
        office = (office_label or {}).get(lang) or (office_label or {}).get("en") or booking.office
        return ics(booking_id=booking.booking_id, title=title, office=office, start=booking.start, end=booking.end,
                   reference=reference, remind_before=timedelta(seconds=booking.reminder_seconds)).decode()


def hold_minutes(spec: AppointmentSpec) -> int:
    return int(timedelta(seconds=spec.hold_seconds).total_seconds() // 60)
