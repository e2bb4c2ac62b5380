"""bookAppointment: book a slot on the appointment step, or move a booking to another slot."""

from __future__ import annotations

import strawberry

from onestop.graphql.applications.mutations import ApplicationPayload, act
from onestop.graphql.applications.services import application_service
from onestop.graphql.appointments.inputs import BookAppointmentInput
from onestop.graphql.context import Info_
from onestop.graphql.fields import field


@strawberry.type
class AppointmentsMutation:
    @field(description="Book a slot on the current appointment step (held until you submit), or reschedule: book "
                       "another slot of a step already booked, before or after submitting; the old slot is "
                       "released. SLOT_FULL when its last place was just taken.")
    async def book_appointment(self, info: Info_, input: BookAppointmentInput) -> ApplicationPayload:
        service = application_service(info)
        return await act(info, input.application_id, input.client_mutation_id,
                         lambda key, ref, who: service.book_appointment(key, ref, input.step_id, input.office,
                                                                        input.start, input.client_mutation_id,
                                                                        principal=who))
