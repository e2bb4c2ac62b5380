"""Mutation inputs of the appointments domain."""

from __future__ import annotations

import datetime as dt

import strawberry

_CMID = "Any string unique per intended action; repeating it (a retry) does not apply the action twice."


@strawberry.input
class BookAppointmentInput:
    application_id: strawberry.ID
    step_id: str
    office: str = strawberry.field(description="An office value of the step's offices.")
    start: dt.datetime = strawberry.field(description="A slot's start, as availability lists it (with its offset).")
    client_mutation_id: str | None = strawberry.field(default=None, description=_CMID)
