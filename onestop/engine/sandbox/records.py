"""The synthetic records of a sandbox's test citizens, and the data providers a sandbox's prefill reads instead of
the real ones.

Records are made up at provisioning (never copied from anyone) and stored encrypted like real ones. A sandbox's
worker builds its prefill over ``SyntheticProviders``: the same consent-checked, logged gateway, whose every
provider answers from these records, and only for a citizen reference that one of *that* sandbox's test citizens
started an application with. No code path of a sandbox's prefill reads a real provider's records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from onestop.catalogue.values import hkid_check_digit
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.data.gateway import DataGateway, DataServices
from onestop.engine.data.profiles import Citizen, ProfileService
from onestop.engine.data.providers import EME, DataProvider, ProvidedValue, ProviderRegistry, ProviderSpec, SpecSource
from onestop.engine.db import Database, SandboxApplicantRow, SandboxMemberRow, SandboxRecordRow
from onestop.engine.errors import EngineError

IDENTITY_PROVIDER = "immd-records"
"""The provider whose identity items the e-ME profile's verified items show (name, date of birth, HKID)."""

_SURNAMES_ZH = {
    "CHAN": "陳",
    "WONG": "黃",
    "LEE": "李",
    "CHEUNG": "張",
    "LAU": "劉",
    "NG": "吳",
    "HO": "何",
    "YEUNG": "楊",
}


class NotATestCitizen(EngineError):
    """A sandbox's prefill was asked about someone who is not one of that sandbox's test citizens."""

    code = "NOT_A_TEST_CITIZEN"

    def __init__(self) -> None:
        super().__init__(
            None,
            "a sandbox reads only its own test citizens' synthetic records; start the "
            "application as one of this sandbox's test citizens",
        )


def synthetic_hkid(login: str) -> str:
    """An HKID number with a correct check digit, derived from the login alone (so provisioning again agrees)."""
    digest = hashlib.sha256(f"onestop-sandbox-hkid:{login}".encode()).digest()
    prefix = "Z" + chr(ord("A") + digest[0] % 26)  # two letters: a shape few real cards have
    digits = f"{int.from_bytes(digest[1:5], 'big') % 1_000_000:06d}"
    return f"{prefix}{digits}({hkid_check_digit(prefix, digits)})"


def synthetic_records(login: str, name_en: str, born: date, *, gender: str = "X") -> dict[tuple[str, str], Any]:
    """A test citizen's made-up records by (provider id, item id): their e-ME profile and identity record."""
    surname = name_en.split(",")[0].strip()
    name_zh = f"{_SURNAMES_ZH.get(surname, '陳')}沙盒"
    hkid = synthetic_hkid(login)
    number = int(hashlib.sha256(f"onestop-sandbox-phone:{login}".encode()).hexdigest(), 16) % 10_000_000
    address = {
        "flat": "1",
        "floor": "1",
        "building": "Sandbox Court",
        "street": "1 Synthetic Road",
        "district": "sha-tin",
        "region": "NT",
    }
    return {
        (EME, "nameEn"): name_en,
        (EME, "nameZh"): name_zh,
        (EME, "dateOfBirth"): born.isoformat(),
        (EME, "hkid"): hkid,
        (EME, "gender"): gender,
        # Shaped like a mobile number so phone fields accept it; notices never use it (they read the real e-ME
        # profile table, where a test citizen has none), and the address's domain is reserved (RFC 2606).
        (EME, "phone"): f"+8525{number:07d}",
        (EME, "email"): f"{login}@sandbox.invalid",
        (EME, "residentialAddress"): address,
        (EME, "correspondenceAddress"): address,
        (IDENTITY_PROVIDER, "name-en"): name_en,
        (IDENTITY_PROVIDER, "name-zh"): name_zh,
        (IDENTITY_PROVIDER, "date-of-birth"): born.isoformat(),
        (IDENTITY_PROVIDER, "hkid"): hkid,
        (IDENTITY_PROVIDER, "residency-status"): "permanent",
    }


def _aad(login: str, source: str, item_id: str) -> str:
    return f"sandbox_records.value|{login}|{source}|{item_id}"


@dataclass
class SandboxRecords:
    """The synthetic records, and which citizen reference is which test citizen."""

    database: Database
    cipher: FieldCipher

    async def seed(self, login: str, records: Mapping[tuple[str, str], Any], at: datetime) -> int:
        """Store the records a test citizen lacks (seeding again adds nothing); how many were added."""
        async with self.database.session() as session:
            rows = (
                await session.execute(
                    select(SandboxRecordRow.source, SandboxRecordRow.item_id).where(SandboxRecordRow.login == login)
                )
            ).all()
        have = {(str(source), str(item_id)) for source, item_id in rows}
        added = 0
        for (source, item_id), value in records.items():
            if (source, item_id) in have:
                continue
            try:
                async with self.database.session() as session:
                    session.add(
                        SandboxRecordRow(
                            login=login,
                            source=source,
                            item_id=item_id,
                            updated_at=at,
                            value=self.cipher.encrypt_json(value, _aad(login, source, item_id)),
                        )
                    )
                added += 1
            except IntegrityError:
                continue  # a concurrent provisioning attempt stored it first
        return added

    async def values(self, login: str, source: str, items: Sequence[str]) -> dict[str, tuple[Any, datetime]]:
        async with self.database.session() as session:
            rows = (
                await session.scalars(
                    select(SandboxRecordRow).where(
                        SandboxRecordRow.login == login,
                        SandboxRecordRow.source == source,
                        SandboxRecordRow.item_id.in_(list(items)),
                    )
                )
            ).all()
        return {
            row.item_id: (self.cipher.decrypt_json(row.value, _aad(login, source, row.item_id)), row.updated_at)
            for row in rows
        }

    async def remember(self, citizen_ref: str, login: str, provider_id: str) -> None:
        """Record that ``citizen_ref`` is the test citizen ``login`` of sandbox ``provider_id`` (once)."""
        async with self.database.session() as session:
            if await session.get(SandboxApplicantRow, citizen_ref) is not None:
                return
        try:
            async with self.database.session() as session:
                session.add(
                    SandboxApplicantRow(
                        citizen_ref=citizen_ref, login=login, provider_id=provider_id, created_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            return  # a concurrent start recorded it

    async def login_of(self, citizen_ref: str, provider_id: str) -> str | None:
        """The test citizen of sandbox ``provider_id`` that ``citizen_ref`` is; None for anyone else."""
        async with self.database.session() as session:
            row = await session.get(SandboxApplicantRow, citizen_ref)
            member = await session.get(SandboxMemberRow, row.login) if row is not None else None
        if row is None or member is None or row.provider_id != provider_id or member.provider_id != provider_id:
            return None
        return row.login


class SyntheticProvider:
    """A catalogue provider as a sandbox sees it: its items from the test citizen's synthetic records."""

    def __init__(self, spec: ProviderSpec, records: SandboxRecords, provider_id: str) -> None:
        self.spec = spec
        self.records = records
        self.provider_id = provider_id

    async def fetch(
        self, citizen: Citizen, items: Sequence[str], *, consent_jws: str | None = None
    ) -> dict[str, ProvidedValue]:
        login = await self.records.login_of(citizen.ref, self.provider_id)
        if login is None:
            raise NotATestCitizen()
        found = await self.records.values(login, self.spec.id, items)
        # e-ME items shown from the identity record are verified, as in the real profile.
        verified = {eme_item for eme_item, _ in self.spec.verified_by}
        return {
            item: ProvidedValue(
                value, self.spec.department, at, verified=item in self.spec.authoritative or item in verified
            )
            for item, (value, at) in found.items()
        }


class SyntheticProviders(ProviderRegistry):
    """The provider registry of one sandbox: every catalogue provider, each answering from synthetic records."""

    def __init__(
        self,
        source: SpecSource,
        records: SandboxRecords,
        provider_id: str,
        *,
        database: Database,
        cipher: FieldCipher,
        profiles: ProfileService,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(source, database=database, cipher=cipher, profiles=profiles, client=client)
        self.records = records
        self.provider_id = provider_id

    def _adapter(self, spec: ProviderSpec) -> DataProvider:
        # Never the real adapters (e-ME profile, SQL registry, HTTP): a sandbox has no way to reach them.
        return SyntheticProvider(spec, self.records, self.provider_id)


def sandbox_gateway(data: DataServices, records: SandboxRecords, provider_id: str) -> DataGateway:
    """The consent gateway of sandbox ``provider_id``'s worker: real consents and access log for its test
    citizens, values from their synthetic records only."""
    providers = SyntheticProviders(
        data.providers.source, records, provider_id, database=data.database, cipher=data.cipher, profiles=data.profiles
    )
    gateway = DataGateway(data.citizens, data.consents, providers, data.access_log)
    gateway.events = data.gateway.events
    return gateway
