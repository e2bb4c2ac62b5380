"""Citizens and their e-ME profiles: read and edited by their owner, encrypted column by column at rest."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestop.catalogue.values import (
    HKAddress,
    is_valid_email,
    is_valid_hk_phone,
    is_valid_hkid,
    normalize_hk_phone,
    normalize_hkid,
)
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import CitizenRow, Database, ProfileRow
from onestop.engine.db.prepared import Executor, prepared
from onestop.engine.errors import FieldError, InvalidInput, field_error

# e-ME item id (the ``eme`` provider's items, GraphQL field names) -> column of ``profiles``.
PROFILE_COLUMNS: Mapping[str, str] = {
    "nameEn": "name_en",
    "nameZh": "name_zh",
    "dateOfBirth": "date_of_birth",
    "hkid": "hkid",
    "gender": "gender",
    "phone": "phone",
    "email": "email",
    "residentialAddress": "residential_address",
    "correspondenceAddress": "correspondence_address",
}
# Stored as the identity card's letters (the GraphQL Gender enum); the fixtures' female/male are accepted.
_GENDERS = {"m": "M", "male": "M", "f": "F", "female": "F", "x": "X", "other": "X"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Citizen:
    """A citizen as the engine sees it: internal id, pairwise subject, pseudonymous reference."""

    id: str
    sub: str
    ref: str


@dataclass(frozen=True)
class VerifiedValue:
    """An authoritative record's value, with the department that holds it and when it was last verified there."""

    value: Any
    source: str
    verified_at: datetime | None


class VerifiedItem(BaseModel):
    """Provenance of one verified e-ME item: read-only, shown from ``source``'s record."""

    model_config = ConfigDict(frozen=True)

    item: str
    source: str
    verified_at: datetime | None = None


class VerifiedRecords(Protocol):
    """Where verified e-ME items come from (the provider registry)."""

    def verified_items(self) -> Mapping[str, str]: ...

    async def verified_values(self, citizen: Citizen) -> Mapping[str, VerifiedValue]: ...


class Profile(BaseModel):
    """The e-ME profile. Attributes are snake_case; the JSON/GraphQL names are the camelCase item ids.

    ``verified`` lists the items shown from an authoritative record (read-only); every other item is self-declared.
    """

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name_en: str | None = None
    name_zh: str | None = None
    date_of_birth: date | None = None
    hkid: str | None = None
    gender: Literal["M", "F", "X"] | None = None
    phone: str | None = None
    email: str | None = None
    residential_address: HKAddress | None = None
    correspondence_address: HKAddress | None = None
    updated_at: datetime | None = None
    verified: tuple[VerifiedItem, ...] = ()

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, value: Any) -> Any:
        return _GENDERS.get(value.strip().lower(), value) if isinstance(value, str) else value

    def items(self) -> dict[str, Any]:
        """The set profile values by e-ME item id, as JSON values."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data.pop("updatedAt", None)
        data.pop("verified", None)
        return data


def _text(limit: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("enter a non-empty text")
        value = " ".join(value.split())
        if len(value) > limit or _CONTROL.search(value):
            raise ValueError(f"use at most {limit} printable characters")
        return value

    return check


def _date_of_birth(value: Any) -> Any:
    try:
        born = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        born = None
    if born is None:
        raise ValueError("enter a date as YYYY-MM-DD")
    if born > datetime.now(UTC).date() or born.year < 1900:
        raise ValueError("enter a date of birth between 1900 and today")
    return born.isoformat()


def _hkid(value: Any) -> Any:
    if not isinstance(value, str) or not is_valid_hkid(value):
        raise ValueError("enter an HKID number with a correct check digit, e.g. A123456(3)")
    return normalize_hkid(value)


def _gender(value: Any) -> Any:
    if not isinstance(value, str) or value.strip().lower() not in _GENDERS:
        raise ValueError("choose M, F or X")
    return _GENDERS[value.strip().lower()]


def _phone(value: Any) -> Any:
    if not isinstance(value, str) or not is_valid_hk_phone(value):
        raise ValueError("enter a Hong Kong number: 8 digits starting 2, 3, 5-9, optionally +852")
    return normalize_hk_phone(value)


def _email(value: Any) -> Any:
    if not isinstance(value, str) or not is_valid_email(value.strip()):
        raise ValueError("enter an e-mail address like name@example.hk")
    return value.strip()


_CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "nameEn": _text(200),
    "nameZh": _text(100),
    "dateOfBirth": _date_of_birth,
    "hkid": _hkid,
    "gender": _gender,
    "phone": _phone,
    "email": _email,
}


def validate_changes(changes: Mapping[str, Any], *, districts: Collection[str] | None = None) -> dict[str, Any]:
    """Check and normalise profile changes (by item id); ``None`` clears a field.

    Raises ``InvalidInput`` listing every problem with its field path.
    """
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in PROFILE_COLUMNS:
            errors.append(field_error((name,), f"unknown profile field; use one of {', '.join(PROFILE_COLUMNS)}",
                                     "UNKNOWN_FIELD"))
            continue
        if value is None:
            clean[name] = None
            continue
        if name in _CHECKS:
            try:
                clean[name] = _CHECKS[name](value)
            except ValueError as exc:
                errors.append(field_error((name,), str(exc)))
            continue
        try:
            address = HKAddress.model_validate(value)
        except ValidationError as exc:
            for problem in exc.errors():
                path = (name, *(str(part) for part in problem["loc"]))
                errors.append(field_error(path, problem["msg"].removeprefix("Value error, ")))
            continue
        if districts is not None and address.district not in districts:
            errors.append(field_error((name, "district"), "choose a district from the districts list"))
            continue
        clean[name] = address.model_dump(mode="json", exclude_none=True)
    if errors:
        raise InvalidInput(errors)
    return clean


def _aad(column: str, citizen_id: str) -> str:
    return f"profiles.{column}|{citizen_id}"


_CITIZENS_KEPT = 50_000


class CitizenDirectory:
    """Finds citizens by subject and creates them on first sight."""

    def __init__(self, database: Database, cipher: FieldCipher) -> None:
        self.database = database
        self.cipher = cipher
        # A citizen's id, subject and reference never change once written (rows are never updated or deleted), so
        # every lookup after the first is answered here: the start, the prefill and the caller's reference each
        # read it once per action otherwise.
        self._by_sub: dict[str, Citizen] = {}
        self._by_ref: dict[str, Citizen] = {}

    def _citizen(self, row: CitizenRow) -> Citizen:
        citizen = Citizen(id=row.id, sub=row.sub, ref=row.ref)
        if len(self._by_sub) >= _CITIZENS_KEPT:
            self._by_sub.clear()
            self._by_ref.clear()
        self._by_sub[citizen.sub] = self._by_ref[citizen.ref] = citizen
        return citizen

    async def get(self, sub: str) -> Citizen | None:
        known = self._by_sub.get(sub)
        if known is not None:
            return known
        async with self.database.session() as session:
            row = await session.scalar(select(CitizenRow).where(CitizenRow.sub == sub))
            return self._citizen(row) if row else None

    async def by_ref(self, ref: str) -> Citizen | None:
        known = self._by_ref.get(ref)
        if known is not None:
            return known
        async with self.database.session() as session:
            row = await session.scalar(select(CitizenRow).where(CitizenRow.ref == ref))
            return self._citizen(row) if row else None

    async def ensure(self, sub: str) -> Citizen:
        """The citizen with this subject, created when new (safe under concurrent first logins)."""
        found = await self.get(sub)
        if found is not None:
            return found
        citizen_id = str(uuid.uuid4())
        row = CitizenRow(id=citizen_id, sub=sub, ref=self.cipher.pseudonym("citizen-ref", citizen_id),
                         created_at=datetime.now(UTC))
        try:
            async with self.database.session() as session:
                session.add(row)
        except IntegrityError:
            # Another request created it first; theirs wins.
            found = await self.get(sub)
            if found is None:
                raise
            return found
        return self._citizen(row)


class ProfileService:
    """The owner's e-ME profile."""

    def __init__(self, database: Database, cipher: FieldCipher, citizens: CitizenDirectory,
                 *, districts: Collection[str] | None = None) -> None:
        self.database = database
        self.cipher = cipher
        self.citizens = citizens
        self.districts = frozenset(districts) if districts is not None else None
        # Set once the provider registry exists (it is built from this service): verified items come from there.
        self.records: VerifiedRecords | None = None

    def verified_items(self) -> Mapping[str, str]:
        """e-ME item id -> the authoritative ``provider.item`` it shows; these items are read-only."""
        return self.records.verified_items() if self.records is not None else {}

    async def verified_values(self, citizen: Citizen) -> Mapping[str, VerifiedValue]:
        return await self.records.verified_values(citizen) if self.records is not None else {}

    async def _with_verified(self, citizen: Citizen, profile: Profile) -> Profile:
        """The profile with each verified item replaced by its authoritative value (absent without a record)."""
        items = self.verified_items()
        if not items:
            return profile
        values = await self.verified_values(citizen)
        data = profile.model_dump(by_alias=True, exclude={"verified"})
        for item in items:
            record = values.get(item)
            data[item] = record.value if record is not None else None
        data["verified"] = [VerifiedItem(item=item, source=record.source, verified_at=record.verified_at)
                            for item, record in values.items()]
        return Profile.model_validate(data)

    def _decode(self, row: Any) -> Profile:
        data: dict[str, Any] = {"updated_at": row.updated_at}
        for column in PROFILE_COLUMNS.values():
            stored = getattr(row, column)
            if stored is not None:
                data[column] = self.cipher.decrypt_json(stored, _aad(column, row.citizen_id))
        return Profile.model_validate(data)

    def item(self, citizen_id: str, name: str, stored: str | None) -> Any:
        """One item's value from its stored ciphertext (read by the caller from its ``profiles`` column): for a
        reader that needs an item or two, not the whole profile (a notice's address)."""
        column = PROFILE_COLUMNS[name]
        return None if stored is None else self.cipher.decrypt_json(stored, _aad(column, citizen_id))

    async def load(self, session: Executor, citizen_id: str) -> Profile | None:
        """The profile of a citizen by internal id, inside a caller's session (or connection)."""
        row = (await session.execute(prepared(session, _profile), {"citizen": citizen_id})).first()
        return self._decode(row) if row else None

    async def store(self, session: AsyncSession, citizen_id: str, values: Mapping[str, Any],
                    *, updated_at: datetime) -> None:
        """Write already-validated values (by item id) for a citizen, inside a caller's session."""
        row = await session.get(ProfileRow, citizen_id)
        if row is None:
            row = ProfileRow(citizen_id=citizen_id, updated_at=updated_at)
            session.add(row)
        for name, value in values.items():
            column = PROFILE_COLUMNS[name]
            setattr(row, column, None if value is None else self.cipher.encrypt_json(value, _aad(column, citizen_id)))
        row.updated_at = updated_at

    async def get(self, sub: str) -> Profile:
        """The caller's profile, verified items from their authoritative records; empty when they have none yet."""
        citizen = await self.citizens.get(sub)
        if citizen is None:
            return Profile()
        async with self.database.session() as session:
            profile = await self.load(session, citizen.id) or Profile()
        return await self._with_verified(citizen, profile)

    async def update(self, sub: str, changes: Mapping[str, Any], *, now: datetime | None = None) -> Profile:
        """Apply validated changes (by item id, ``None`` clears); raises ``InvalidInput`` and changes nothing.

        Verified items are refused: they are the authoritative record's, corrected only at its department.
        """
        verified = self.verified_items()
        refused = [field_error((name,), f"{name} is verified from {verified[name].partition('.')[0]}'s record and "
                               "cannot be changed here; to correct it, contact the department that holds it",
                               "VERIFIED_ITEM") for name in changes if name in verified]
        try:
            clean = validate_changes({k: v for k, v in changes.items() if k not in verified}, districts=self.districts)
        except InvalidInput as invalid:
            raise InvalidInput([*refused, *invalid.errors]) from None
        if refused:
            raise InvalidInput(refused)
        citizen = await self.citizens.ensure(sub)
        async with self.database.session() as session:
            await self.store(session, citizen.id, clean, updated_at=now or datetime.now(UTC))
            await session.flush()
            profile = await self.load(session, citizen.id)
        assert profile is not None  # just written
        return await self._with_verified(citizen, profile)


def _profile(dialect: str) -> Any:
    profiles = ProfileRow.__table__
    return select(profiles).where(profiles.c.citizen_id == bindparam("citizen"))
