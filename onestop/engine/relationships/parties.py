"""The actor and the subject of each application, by pseudonymous reference: who acted, for whom, and under
which relationship. Kept beside the application index, never in search attributes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from onestop.engine.data.profiles import Citizen
from onestop.engine.db import ApplicationPartyRow, ApplicationRow, Database
from onestop.workflows.contracts import TERMINAL


class ActingAs(StrEnum):
    SELF = "self"
    PARENT = "parent"
    MANDATE = "mandate"
    GUARDIAN = "guardian"


@dataclass(frozen=True)
class Acting:
    """Who acts, for whom, under which relationship (the outcome of the acting check)."""

    actor: Citizen
    subject: Citizen
    acting_as: ActingAs
    mandate_id: str | None = None
    until: datetime | None = None
    """When the actor's right ends by itself: the child's 18th birthday, the mandate's end."""
    on_end: str = "move"
    """What becomes of an application in progress then (the service's ``whenActingEnds``)."""


@dataclass(frozen=True)
class Parties:
    actor_ref: str
    subject_ref: str
    acting_as: ActingAs
    mandate_id: str | None = None


async def record_parties(database: Database, application_id: str, acting: Acting) -> None:
    """Record once; a retried start (same application id) keeps the first record."""
    async with database.session() as session:
        if await session.get(ApplicationPartyRow, application_id) is not None:
            return
        session.add(ApplicationPartyRow(application_id=application_id, actor_ref=acting.actor.ref,
                                        subject_ref=acting.subject.ref, acting_as=acting.acting_as.value,
                                        mandate_id=acting.mandate_id))


@dataclass(frozen=True)
class ActedApplication:
    """An open application someone started for someone else, with its service's id."""

    application_id: str
    service_id: str
    parties: Parties


async def open_acted(database: Database, *conditions: Any) -> list[ActedApplication]:
    """The open applications acted for someone else whose parties meet ``conditions`` (all of them, if none);
    closed ones are left out (the index says they are)."""
    async with database.session() as session:
        rows = (await session.execute(
            select(ApplicationPartyRow, ApplicationRow.service_id, ApplicationRow.status)
            .outerjoin(ApplicationRow, ApplicationRow.application_id == ApplicationPartyRow.application_id)
            .where(ApplicationPartyRow.actor_ref != ApplicationPartyRow.subject_ref, *conditions)
            .order_by(ApplicationPartyRow.application_id))).all()
    return [ActedApplication(row.application_id, service or "",
                             Parties(row.actor_ref, row.subject_ref, ActingAs(row.acting_as), row.mandate_id))
            for row, service, status in rows if status not in TERMINAL]


async def open_acted_for(database: Database, actor_ref: str, subject_ref: str, acting_as: ActingAs,
                         mandate_id: str | None = None) -> list[ActedApplication]:
    """The open applications ``actor_ref`` started for ``subject_ref`` under ``acting_as`` (and ``mandate_id``)."""
    conditions = [ApplicationPartyRow.actor_ref == actor_ref, ApplicationPartyRow.subject_ref == subject_ref,
                  ApplicationPartyRow.acting_as == acting_as.value]
    if mandate_id is not None:
        conditions.append(ApplicationPartyRow.mandate_id == mandate_id)
    return await open_acted(database, *conditions)


async def parties_of(database: Database, application_id: str) -> Parties | None:
    """None for an application started before parties were recorded, or by the applicant for themself."""
    async with database.session() as session:
        row = await session.scalar(select(ApplicationPartyRow).where(
            ApplicationPartyRow.application_id == application_id))
    if row is None:
        return None
    return Parties(row.actor_ref, row.subject_ref, ActingAs(row.acting_as), row.mandate_id)
