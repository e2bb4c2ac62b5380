"""Appointed guardians: a department (SWD) records a guardian for a citizen who cannot grant a mandate themself.

Only staff of the appointing department with the approving role may record or end one; each such action is a
security event (the audited, hash-chained trail) and the guardianship itself is a signed artefact naming both
citizens by pseudonymous reference. The names and the order's reference are stored as ciphertext.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, true, update

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.profiles import Citizen
from onestop.engine.db import CitizenRow, Database, GuardianshipRow
from onestop.engine.errors import Forbidden, NotFound
from onestop.engine.identity.principal import Principal
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink

GUARDIANSHIP_TYP = "onestop-guardianship+jws"
GUARDIAN_DEPARTMENT = "SWD"
"""The department that appoints guardians (the Social Welfare Department)."""
GUARDIAN_ROLE = "approver"
"""The staff role that may record or end a guardianship (a caseworker alone may not)."""


class GuardianshipStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    ENDED = "ended"


@dataclass(frozen=True)
class Guardianship:
    id: str
    guardian_ref: str
    ward_ref: str
    guardian_name: str
    ward_name: str
    order_reference: str
    department: str
    valid_until: datetime | None
    appointed_at: datetime
    ended_at: datetime | None
    jws: str

    def status(self, now: datetime) -> GuardianshipStatus:
        if self.ended_at is not None:
            return GuardianshipStatus.ENDED
        if self.valid_until is not None and now >= self.valid_until:
            return GuardianshipStatus.EXPIRED
        return GuardianshipStatus.ACTIVE


def _aad(guardianship_id: str) -> str:
    return f"guardianships.details|{guardianship_id}"


def require_guardian_staff(principal: Principal) -> None:
    """Only the appointing department's staff with the approving role record or end guardianships."""
    if not principal.is_staff or principal.department != GUARDIAN_DEPARTMENT or GUARDIAN_ROLE not in principal.roles:
        raise Forbidden(f"only {GUARDIAN_DEPARTMENT} staff with the {GUARDIAN_ROLE} role record or end guardianships")


class GuardianStore:
    """Guardianships as rows: appoint, end, list for the department, for a guardian, or for a ward."""

    events: EventSink = NO_EVENTS

    def __init__(self, database: Database, cipher: FieldCipher, signer: Signer) -> None:
        self.database = database
        self.cipher = cipher
        self.signer = signer

    async def appoint(self, staff: Principal, guardian: Citizen, ward: Citizen, *, guardian_name: str,
                      ward_name: str, order_reference: str, valid_until: datetime | None,
                      now: datetime) -> Guardianship:
        require_guardian_staff(staff)
        guardianship_id = str(uuid.uuid4())
        jws = self._sign(guardianship_id, guardian.ref, ward.ref, valid_until, now)
        secret = {"guardianName": guardian_name, "wardName": ward_name, "orderReference": order_reference}
        async with self.database.session() as session:
            session.add(GuardianshipRow(
                id=guardianship_id, guardian_id=guardian.id, ward_id=ward.id, department=GUARDIAN_DEPARTMENT,
                details=self.cipher.encrypt_json(secret, _aad(guardianship_id)), valid_until=valid_until,
                appointed_at=now, appointed_by=staff.sub, ended_at=None, ended_by=None, jws=jws))
        self.events.record(EventKind.GUARDIAN_APPOINTED, staff=staff.sub, citizen_ref=ward.ref,
                           outcome="appointed", at=now, guardianship=guardianship_id)
        return Guardianship(guardianship_id, guardian.ref, ward.ref, guardian_name, ward_name, order_reference,
                            GUARDIAN_DEPARTMENT, valid_until, now, None, jws)

    def _sign(self, guardianship_id: str, guardian_ref: str, ward_ref: str, valid_until: datetime | None,
              appointed_at: datetime) -> str:
        payload: dict[str, Any] = {
            "id": guardianship_id, "guardian": guardian_ref, "ward": ward_ref, "department": GUARDIAN_DEPARTMENT,
            "validUntil": None if valid_until is None else valid_until.isoformat(),
            "appointedAt": appointed_at.isoformat(),
        }
        return self.signer.sign(payload, typ=GUARDIANSHIP_TYP)

    async def end(self, staff: Principal, guardianship_id: str, now: datetime,
                  until: datetime | None = None) -> Guardianship:
        """End a guardianship at once (again is a no-op), or (``until``) set or move its end date while it has not
        ended; the applications the guardian started for the ward are told by the caller."""
        require_guardian_staff(staff)
        values: dict[str, Any] = {"ended_at": now, "ended_by": staff.sub} if until is None else {"valid_until": until}
        # An end date is set only while the guardianship is in force (one past its date stays expired).
        in_force = true() if until is None else or_(GuardianshipRow.valid_until.is_(None),
                                                    GuardianshipRow.valid_until > now)
        async with self.database.session() as session:
            done = await session.execute(update(GuardianshipRow).where(
                GuardianshipRow.id == guardianship_id, GuardianshipRow.department == GUARDIAN_DEPARTMENT,
                GuardianshipRow.ended_at.is_(None), in_force).values(**values))
        changed = bool(getattr(done, "rowcount", 0))
        found = await self._load(GuardianshipRow.id == guardianship_id)
        if not found:
            raise NotFound("guardianship", guardianship_id)
        if until is not None and changed:
            # The signed artefact says when it ends: signed again with the new end.
            g = found[0]
            jws = self._sign(g.id, g.guardian_ref, g.ward_ref, until, g.appointed_at)
            async with self.database.session() as session:
                await session.execute(update(GuardianshipRow).where(GuardianshipRow.id == g.id).values(jws=jws))
            found[0] = replace(g, jws=jws)
        if changed:
            self.events.record(EventKind.GUARDIAN_ENDED, staff=staff.sub, citizen_ref=found[0].ward_ref,
                               outcome="ended" if until is None else "end date set", at=now,
                               guardianship=guardianship_id, **({} if until is None else {"until": until.isoformat()}))
        return found[0]

    async def recorded(self, staff: Principal) -> list[Guardianship]:
        """Every guardianship the department recorded, newest first (for its staff)."""
        require_guardian_staff(staff)
        return await self._load(GuardianshipRow.department == GUARDIAN_DEPARTMENT)

    async def wards_of(self, guardian: Citizen) -> list[Guardianship]:
        return await self._load(GuardianshipRow.guardian_id == guardian.id)

    async def involving(self, citizen: Citizen) -> list[Guardianship]:
        return await self._load(or_(GuardianshipRow.guardian_id == citizen.id, GuardianshipRow.ward_id == citizen.id))

    async def _load(self, condition: Any) -> list[Guardianship]:
        guardian_ref = select(CitizenRow.ref).where(CitizenRow.id == GuardianshipRow.guardian_id).scalar_subquery()
        ward_ref = select(CitizenRow.ref).where(CitizenRow.id == GuardianshipRow.ward_id).scalar_subquery()
        async with self.database.session() as session:
            rows = (await session.execute(select(GuardianshipRow, guardian_ref, ward_ref).where(condition)
                                          .order_by(GuardianshipRow.appointed_at.desc(), GuardianshipRow.id))).all()
        found = []
        for row, guardian, ward in rows:
            secret = self.cipher.decrypt_json(row.details, _aad(row.id))
            found.append(Guardianship(row.id, str(guardian), str(ward), str(secret["guardianName"]),
                                      str(secret["wardName"]), str(secret["orderReference"]), row.department,
                                      row.valid_until, row.appointed_at, row.ended_at, row.jws))
        return found
