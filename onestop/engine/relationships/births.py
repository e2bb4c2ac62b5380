"""Parent and child, from ImmD's birth registrations: who a citizen may act for as a parent, until the 18th birthday.

A link exists only when the registration names both as citizens of the platform. The child's name and date of
birth are stored as ciphertext; the age is computed from the registered date of birth on every read, so parental
rights end on the 18th birthday without anything to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from onestop.catalogue.values import normalize_hkid
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import BirthRegistrationRow, CitizenIdentifierRow, CitizenRow, Database

ADULT_AGE = 18


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def comes_of_age(born: date) -> datetime:
    """The start (UTC, as ``age_on`` counts days) of the 18th birthday; 1 March for a child born on 29 February."""
    year = born.year + ADULT_AGE
    try:
        day = born.replace(year=year)
    except ValueError:
        day = date(year, 3, 1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Child:
    """A registered child of the parent asking, still a minor today."""

    id: str
    ref: str
    name: str
    date_of_birth: date

    def age(self, today: date) -> int:
        return age_on(self.date_of_birth, today)


def _aad(child_id: str, parent_id: str, column: str) -> str:
    return f"birth_registrations.{column}|{child_id}|{parent_id}"


class BirthRegister:
    """The registrations as links, and the HKID pseudonyms that let a citizen name another."""

    def __init__(self, database: Database, cipher: FieldCipher, *,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self.database = database
        self.cipher = cipher
        self.today = today

    async def register(self, child_id: str, parent_id: str, name: str, born: date, at: datetime) -> bool:
        """Record one registration (child, parent); False when it is already there."""
        async with self.database.session() as session:
            found = await session.get(BirthRegistrationRow, (child_id, parent_id))
            if found is not None:
                return False
            session.add(BirthRegistrationRow(
                child_id=child_id, parent_id=parent_id, registered_at=at,
                child_name=self.cipher.encrypt_json(name, _aad(child_id, parent_id, "child_name")),
                date_of_birth=self.cipher.encrypt_json(born.isoformat(),
                                                       _aad(child_id, parent_id, "date_of_birth"))))
        return True

    async def children_of(self, parent_id: str, *, minors_only: bool = True) -> list[Child]:
        """The parent's registered children (by default only those under 18 today), eldest first."""
        async with self.database.session() as session:
            rows = (await session.execute(
                select(BirthRegistrationRow, CitizenRow.ref)
                .join(CitizenRow, CitizenRow.id == BirthRegistrationRow.child_id)
                .where(BirthRegistrationRow.parent_id == parent_id))).all()
        today = self.today()
        children = []
        for row, ref in rows:
            born = date.fromisoformat(self.cipher.decrypt_json(
                row.date_of_birth, _aad(row.child_id, parent_id, "date_of_birth")))
            if minors_only and age_on(born, today) >= ADULT_AGE:
                continue
            name = self.cipher.decrypt_json(row.child_name, _aad(row.child_id, parent_id, "child_name"))
            children.append(Child(id=row.child_id, ref=ref, name=str(name), date_of_birth=born))
        return sorted(children, key=lambda child: (child.date_of_birth, child.ref))

    async def born(self, child_id: str) -> date | None:
        """A citizen's registered date of birth; None when no registration names them as the child."""
        async with self.database.session() as session:
            row = await session.scalar(select(BirthRegistrationRow).where(BirthRegistrationRow.child_id == child_id)
                                       .limit(1))
        if row is None:
            return None
        return date.fromisoformat(self.cipher.decrypt_json(row.date_of_birth,
                                                           _aad(row.child_id, row.parent_id, "date_of_birth")))

    async def record_identifier(self, citizen_id: str, hkid: str) -> bool:
        """Keep the keyed pseudonym of a citizen's HKID; False when already kept."""
        pseudonym = self.cipher.pseudonym("citizen-hkid", normalize_hkid(hkid))
        async with self.database.session() as session:
            if await session.get(CitizenIdentifierRow, pseudonym) is not None:
                return False
            session.add(CitizenIdentifierRow(pseudonym=pseudonym, citizen_id=citizen_id))
        return True

    async def citizen_with_hkid(self, hkid: str) -> str | None:
        """The id of the citizen with this HKID, under the current key or a rotated-out one; None if unknown."""
        try:
            canonical = normalize_hkid(hkid)
        except ValueError:
            return None
        async with self.database.session() as session:
            for pseudonym in self.cipher.pseudonyms("citizen-hkid", canonical):
                row = await session.get(CitizenIdentifierRow, pseudonym)
                if row is not None:
                    return row.citizen_id
        return None
