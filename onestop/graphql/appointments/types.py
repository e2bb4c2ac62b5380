"""Appointment types: an appointment step's offices and free slots, and the bookings an application holds."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry

from onestop.catalogue.text import localized
from onestop.engine import BOOKING_HELD, AppointmentSpec, Booking, SlotAvailability, hold_minutes
from onestop.graphql.context import Info_
from onestop.graphql.fields import field


@strawberry.type(description="An office (or centre) an appointment can be booked at.")
class AppointmentOffice:
    value: str = strawberry.field(description="The office id to book with.")
    label: str


@strawberry.type(description="One slot of an office, with its free places (0 when full).")
class AppointmentSlot:
    start: dt.datetime
    end: dt.datetime
    remaining: int = strawberry.field(description="Places still free; book only slots with places left.")

    @classmethod
    def of(cls, slot: SlotAvailability) -> AppointmentSlot:
        return cls(start=slot.start, end=slot.end, remaining=slot.remaining)


async def availability(info: Info_, service_id: str, spec: AppointmentSpec, office: str, first: dt.date,
                       last: dt.date) -> list[AppointmentSlot]:
    slots = await info.context.engine.appointments.service.availability(service_id, spec, office, first, last)
    return [AppointmentSlot.of(s) for s in slots]


@strawberry.type(description="An appointment step: where and when it can be booked.")
class AppointmentStepDetails:
    spec: strawberry.Private[AppointmentSpec]
    service_id: strawberry.Private[str]

    @field()
    def offices(self, info: Info_) -> list[AppointmentOffice]:
        return [AppointmentOffice(value=o.value, label=localized(o.label, info.context.lang) or o.value)
                for o in self.spec.offices]

    @field(description="Length of one slot in minutes.")
    def slot_minutes(self) -> int:
        return self.spec.slot_minutes

    @field(description="How long a booked slot is held for the citizen before the application must be submitted.")
    def hold_minutes(self) -> int:
        return hold_minutes(self.spec)

    @field(description="Bookable slots of one office from `from` to `to` (Hong Kong dates, at most 31 days), "
                       "with their free places.")
    async def availability(self, info: Info_, office: str, from_: Annotated[dt.date, strawberry.argument(name="from")],
                           to: dt.date | None = None) -> list[AppointmentSlot]:
        return await availability(info, self.service_id, self.spec, office, from_, to or from_)


@strawberry.enum(description="Where a booking stands.")
class AppointmentStatus(Enum):
    HELD = "HELD"
    CONFIRMED = "CONFIRMED"


@strawberry.type(description="A booked appointment: held until the application is submitted, then confirmed.")
class Appointment:
    booking: strawberry.Private[Booking]
    service_id: strawberry.Private[str]
    reference: strawberry.Private[str | None]

    @field(description="The appointment step that booked it.")
    def step_id(self) -> str:
        return self.booking.step_id

    @field(description="The office id.")
    def office(self) -> str:
        return self.booking.office

    @field(description="The office's name, as the service publishes it now.")
    def office_name(self, info: Info_) -> str:
        label = self._office_label(info)
        return localized(label, info.context.lang) or self.booking.office if label else self.booking.office

    @field()
    def start(self) -> dt.datetime:
        return self.booking.start

    @field()
    def end(self) -> dt.datetime:
        return self.booking.end

    @field()
    def status(self) -> AppointmentStatus:
        return AppointmentStatus.HELD if self.booking.state == BOOKING_HELD else AppointmentStatus.CONFIRMED

    @field(description="Until when a HELD booking is kept unless the application is submitted.")
    def held_until(self) -> dt.datetime | None:
        return self.booking.held_until

    @field(description="The appointment as an iCalendar (.ics, RFC 5545) file, with a reminder alarm when the "
                       "reminder notice goes out (by default the day before).")
    def ics(self, info: Info_) -> str:
        model = info.context.snapshot.catalogue.service(self.service_id)
        title = {"en": model.title.en, "tc": model.title.tc, "sc": model.title.sc or model.title.tc} \
            if model is not None else {"en": self.service_id}
        return info.context.engine.appointments.service.calendar_file(
            self.booking, service_title=title, office_label=self._office_label(info), reference=self.reference,
            lang=str(info.context.lang))

    def _office_label(self, info: Info_) -> dict[str, str] | None:
        snapshot = info.context.engine.appointments.service.snapshots(self.service_id)
        spec = snapshot.step(self.booking.step_id) if snapshot is not None else None
        if not isinstance(spec, AppointmentSpec):
            return None
        return next((o.label for o in spec.offices if o.value == self.booking.office), None)
