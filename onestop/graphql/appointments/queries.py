"""appointmentAvailability: public, no login; the free places of a published service's appointment step."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from onestop.graphql.appointments.types import AppointmentSlot, availability
from onestop.graphql.context import Info_
from onestop.graphql.fields import field


@strawberry.type
class AppointmentsQuery:
    @field(description="Bookable slots of one office of a service's appointment step, from `from` to `to` (Hong "
                       "Kong dates, at most 31 days), with their free places. Public information.")
    async def appointment_availability(self, info: Info_, service_slug: str, step_id: str, office: str,
                                       from_: Annotated[dt.date, strawberry.argument(name="from")],
                                       to: dt.date | None = None) -> list[AppointmentSlot]:
        spec = info.context.engine.appointments.service.step(service_slug, step_id)
        return await availability(info, service_slug, spec, office, from_, to or from_)
