"""Mandates: a citizen of 18 or over lets another act for them in named services or themes, with named data items,
for a period. One signed artefact per grant, like a consent; visible to both; revocable by the grantor at any time.

The signed payload names both citizens only by pseudonymous reference; the scope and the names shown to each side
are stored as ciphertext.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update

from onestop.catalogue import Service
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.profiles import Citizen
from onestop.engine.db import CitizenRow, Database, MandateRow
from onestop.engine.errors import NotFound

MANDATE_TYP = "onestop-mandate+jws"


class MandateStatus(StrEnum):
    PENDING = "pending"  # granted for a period that has not begun
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class MandateScope:
    services: tuple[str, ...]
    themes: tuple[str, ...]
    items: tuple[str, ...]

    def covers(self, service: Service) -> bool:
        return service.id in self.services or bool(set(self.themes) & set(service.themes))


@dataclass(frozen=True)
class Mandate:
    id: str
    grantor_ref: str
    grantee_ref: str
    grantor_name: str
    grantee_name: str
    scope: MandateScope
    valid_from: datetime
    valid_until: datetime
    granted_at: datetime
    revoked_at: datetime | None
    jws: str

    def status(self, now: datetime) -> MandateStatus:
        if self.revoked_at is not None:
            return MandateStatus.REVOKED
        if now >= self.valid_until:
            return MandateStatus.EXPIRED
        return MandateStatus.PENDING if now < self.valid_from else MandateStatus.ACTIVE


def _aad(mandate_id: str) -> str:
    return f"mandates.scope|{mandate_id}"


class MandateStore:
    """Mandates as rows: grant, revoke, list for either side, and the one that lets a grantee act now."""

    def __init__(self, database: Database, cipher: FieldCipher, signer: Signer) -> None:
        self.database = database
        self.cipher = cipher
        self.signer = signer

    async def grant(self, grantor: Citizen, grantee: Citizen, scope: MandateScope, *, grantor_name: str,
                    grantee_name: str, valid_from: datetime, valid_until: datetime, now: datetime) -> Mandate:
        mandate_id = str(uuid.uuid4())
        payload: dict[str, Any] = {
            "id": mandate_id, "grantor": grantor.ref, "grantee": grantee.ref, "services": list(scope.services),
            "themes": list(scope.themes), "items": list(scope.items), "validFrom": valid_from.isoformat(),
            "validUntil": valid_until.isoformat(), "grantedAt": now.isoformat(),
        }
        jws = self.signer.sign(payload, typ=MANDATE_TYP)
        secret = {"services": list(scope.services), "themes": list(scope.themes), "items": list(scope.items),
                  "grantorName": grantor_name, "granteeName": grantee_name}
        async with self.database.session() as session:
            session.add(MandateRow(id=mandate_id, grantor_id=grantor.id, grantee_id=grantee.id,
                                   scope=self.cipher.encrypt_json(secret, _aad(mandate_id)), valid_from=valid_from,
                                   valid_until=valid_until, granted_at=now, revoked_at=None, jws=jws))
        return Mandate(mandate_id, grantor.ref, grantee.ref, grantor_name, grantee_name, scope, valid_from,
                       valid_until, now, None, jws)

    async def revoke(self, grantor: Citizen, mandate_id: str, now: datetime) -> Mandate:
        """Revoke one of the grantor's mandates (again is a no-op); anyone else's answers not found."""
        async with self.database.session() as session:
            await session.execute(update(MandateRow).where(
                MandateRow.id == mandate_id, MandateRow.grantor_id == grantor.id, MandateRow.revoked_at.is_(None),
            ).values(revoked_at=now))
        found = [m for m in await self._load(MandateRow.grantor_id == grantor.id) if m.id == mandate_id]
        if not found:
            raise NotFound("mandate", mandate_id)
        return found[0]

    async def granted(self, citizen: Citizen) -> list[Mandate]:
        return await self._load(MandateRow.grantor_id == citizen.id)

    async def received(self, citizen: Citizen) -> list[Mandate]:
        return await self._load(MandateRow.grantee_id == citizen.id)

    async def involving(self, citizen: Citizen) -> list[Mandate]:
        return await self._load(or_(MandateRow.grantor_id == citizen.id, MandateRow.grantee_id == citizen.id))

    async def acting_for(self, grantee: Citizen, grantor_ref: str, service: Service, now: datetime
                         ) -> Mandate | None:
        """The grantor's active mandate to the grantee that covers ``service``, if any."""
        for mandate in await self.received(grantee):
            if (mandate.grantor_ref == grantor_ref and mandate.status(now) is MandateStatus.ACTIVE
                    and mandate.scope.covers(service)):
                return mandate
        return None

    async def _load(self, condition: Any) -> list[Mandate]:
        grantor_ref = select(CitizenRow.ref).where(CitizenRow.id == MandateRow.grantor_id).scalar_subquery()
        grantee_ref = select(CitizenRow.ref).where(CitizenRow.id == MandateRow.grantee_id).scalar_subquery()
        async with self.database.session() as session:
            rows = (await session.execute(select(MandateRow, grantor_ref, grantee_ref).where(condition)
                                          .order_by(MandateRow.granted_at.desc(), MandateRow.id))).all()
        return [self._mandate(row, str(a), str(b)) for row, a, b in rows]

    def _mandate(self, row: MandateRow, grantor_ref: str, grantee_ref: str) -> Mandate:
        secret = self.cipher.decrypt_json(row.scope, _aad(row.id))
        scope = MandateScope(tuple(secret["services"]), tuple(secret["themes"]), tuple(secret["items"]))
        return Mandate(row.id, grantor_ref, grantee_ref, str(secret["grantorName"]), str(secret["granteeName"]),
                       scope, row.valid_from, row.valid_until, row.granted_at, row.revoked_at, row.jws)



