"""The appointments domain: availability (public) and bookAppointment.

``Query`` and ``Mutation`` load on first use: the applications domain shows appointment types on its steps, and
bookAppointment answers with the applications domain's payload, so an eager import here would be circular.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Mutation", "Query"]


def __getattr__(name: str) -> Any:
    if name == "Query":
        from onestop.graphql.appointments.queries import AppointmentsQuery

        return AppointmentsQuery
    if name == "Mutation":
        from onestop.graphql.appointments.mutations import AppointmentsMutation

        return AppointmentsMutation
    raise AttributeError(name)
