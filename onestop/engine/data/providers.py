"""Data providers: where the values a citizen consents to share come from.

Three adapters behind one protocol: the citizen's own e-ME profile (``eme``), the SQL-backed registry of
department records (embedded default, seeded from fixtures) and HTTP providers (production). Providers and
their items come from the catalogue (each department YAML's ``providers:``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from onestop.catalogue.catalogue import Catalogue
from onestop.catalogue.departments import HttpSource
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.data.profiles import Citizen, ProfileService, VerifiedValue
from onestop.engine.db import Database, ProviderRecordRow
from onestop.engine.db.prepared import prepared
from onestop.engine.errors import ProviderUnavailable, UnknownProvider

log = logging.getLogger(__name__)

EME = "eme"


@dataclass(frozen=True)
class ProvidedValue:
    """One value with its provenance."""

    value: Any
    source_department: str
    updated_at: datetime | None
    # True when the value comes from an authoritative record (directly, or as a verified e-ME item).
    verified: bool = False


@dataclass(frozen=True)
class ProviderSpec:
    """What the engine needs to know of a catalogue provider."""

    id: str
    department: str
    kind: str  # "sql" | "http"
    items: tuple[str, ...]
    url: str | None = None
    timeout: float = 5.0
    authoritative: frozenset[str] = frozenset()
    # e-ME item id -> the authoritative ``provider.item`` it shows (read-only in the profile).
    verified_by: tuple[tuple[str, str], ...] = ()


class DataProvider(Protocol):
    spec: ProviderSpec

    async def fetch(self, citizen: Citizen, items: Sequence[str], *,
                    consent_jws: str | None = None) -> dict[str, ProvidedValue]:
        """Values for ``items`` (ids within this provider) the provider holds; missing ones are absent.

        ``consent_jws`` is the signed consent artefact authorising the fetch, for providers that check it.
        """
        ...


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    import isodate

    parsed = isodate.parse_duration(str(value))
    return float(parsed.total_seconds()) if isinstance(parsed, timedelta) else default


def specs_from_catalogue(catalogue: Catalogue) -> dict[str, ProviderSpec]:
    """Provider specs from a ``Catalogue`` (``departments[*].providers``)."""
    specs: dict[str, ProviderSpec] = {}
    for department in catalogue.departments.values():
        for provider in department.providers:
            source = provider.source
            http = source if isinstance(source, HttpSource) else None
            specs[provider.id] = ProviderSpec(
                id=provider.id,
                department=department.code,
                kind=source.kind,
                items=tuple(item.id for item in provider.items),
                url=http.url if http else None,
                timeout=_seconds(http.timeout if http else None, 5.0),
                authoritative=frozenset(item.id for item in provider.items if item.authoritative),
                verified_by=tuple((item.id, item.verified_by) for item in provider.items if item.verified_by),
            )
    return specs


class EmeProvider:
    """The citizen's own e-ME profile as a provider (items are the profile's item ids)."""

    def __init__(self, spec: ProviderSpec, database: Database, profiles: ProfileService) -> None:
        self.spec = spec
        self.database = database
        self.profiles = profiles

    async def fetch(self, citizen: Citizen, items: Sequence[str], *,
                    consent_jws: str | None = None) -> dict[str, ProvidedValue]:
        async with self.database.engine.connect() as connection:
            profile = await self.profiles.load(connection, citizen.id)
        values = profile.items() if profile is not None else {}
        found = {
            item: ProvidedValue(values[item], self.spec.department, profile.updated_at if profile else None)
            for item in items if item in values
        }
        # Verified items are the authoritative record's value with its provenance, whatever the stored copy says.
        verified_items = self.profiles.verified_items()
        if not any(item in verified_items for item in items):
            return found
        verified = await self.profiles.verified_values(citizen)
        for item in items:
            if item in verified_items:
                record = verified.get(item)
                if record is None:
                    found.pop(item, None)
                else:
                    found[item] = ProvidedValue(record.value, record.source, record.verified_at, verified=True)
        return found


class SqlRegistryProvider:
    """Department records in the platform's own database (the embedded default)."""

    def __init__(self, spec: ProviderSpec, database: Database, cipher: FieldCipher) -> None:
        self.spec = spec
        self.database = database
        self.cipher = cipher

    @staticmethod
    def aad(citizen_id: str, provider_id: str, item_id: str) -> str:
        return f"provider_records.value|{citizen_id}|{provider_id}|{item_id}"

    async def fetch(self, citizen: Citizen, items: Sequence[str], *,
                    consent_jws: str | None = None) -> dict[str, ProvidedValue]:
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(prepared(connection, _records), {
                "citizen": citizen.id, "provider": self.spec.id, "items": list(items)})).all()
        return {
            row.item_id: ProvidedValue(
                self.cipher.decrypt_json(row.value, self.aad(citizen.id, self.spec.id, row.item_id)),
                self.spec.department,
                row.updated_at,
                verified=row.item_id in self.spec.authoritative,
            )
            for row in rows
        }

    async def put(self, citizen_id: str, item_id: str, value: Any, updated_at: datetime) -> bool:
        """Store one record; False when an identical value is already there (so seeding is idempotent, also
        when several processes seed at once)."""
        try:
            return await self._put(citizen_id, item_id, value, updated_at)
        except IntegrityError:
            # Another writer inserted this record between our read and our insert; compare with theirs.
            return await self._put(citizen_id, item_id, value, updated_at)

    async def _put(self, citizen_id: str, item_id: str, value: Any, updated_at: datetime) -> bool:
        aad = self.aad(citizen_id, self.spec.id, item_id)
        async with self.database.session() as session:
            row = await session.scalar(select(ProviderRecordRow).where(
                ProviderRecordRow.citizen_id == citizen_id,
                ProviderRecordRow.provider_id == self.spec.id,
                ProviderRecordRow.item_id == item_id,
            ))
            if row is None:
                session.add(ProviderRecordRow(citizen_id=citizen_id, provider_id=self.spec.id, item_id=item_id,
                                              value=self.cipher.encrypt_json(value, aad), updated_at=updated_at))
                return True
            if self.cipher.decrypt_json(row.value, aad) == value and row.updated_at == updated_at:
                return False
            row.value = self.cipher.encrypt_json(value, aad)
            row.updated_at = updated_at
            return True


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class HttpProvider:
    """A department's HTTP endpoint.

    Request: ``POST <url>`` with ``{"subject": <pseudonymous citizen ref>, "items": [...], "consent": <JWS>}``;
    the department can check the consent artefact against the platform's JWKS before answering.
    Response: ``{"items": {<item>: {"value": ..., "updatedAt": "<ISO date-time>"}}}``.
    Redirects are never followed (a redirect could send personal data elsewhere); connection errors and 5xx
    are retried a bounded number of times with exponential backoff, then ``ProviderUnavailable``.
    """

    def __init__(self, spec: ProviderSpec, *, client: httpx.AsyncClient | None = None, retries: int = 2,
                 backoff: float = 0.2, max_bytes: int = 1024 * 1024) -> None:
        if not spec.url:
            raise ValueError(f"HTTP provider {spec.id!r} has no url")
        self.spec = spec
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self._client = client

    async def fetch(self, citizen: Citizen, items: Sequence[str], *,
                    consent_jws: str | None = None) -> dict[str, ProvidedValue]:
        assert self.spec.url is not None  # checked in __init__
        body = {"subject": citizen.ref, "items": list(items), "consent": consent_jws}
        reason = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                status, payload = await self._post(self.spec.url, body)
            except httpx.TimeoutException:
                reason = f"timed out after {self.spec.timeout:g}s"
                continue
            except httpx.TransportError as exc:
                reason = f"connection failed: {type(exc).__name__}"
                continue
            if status >= 500:
                reason = f"HTTP {status}"
                continue
            if status != 200:
                # 3xx (not followed) and 4xx will not improve by retrying.
                raise ProviderUnavailable(self.spec.id, f"HTTP {status}")
            return self._parse(payload)
        log.warning("provider %s unavailable after %d attempts: %s", self.spec.id, self.retries + 1, reason)
        raise ProviderUnavailable(self.spec.id, f"{reason}, after {self.retries + 1} attempts")

    async def _post(self, url: str, body: Mapping[str, Any]) -> tuple[int, bytes]:
        if self._client is not None:
            return await self._send(self._client, url, body)
        async with httpx.AsyncClient(timeout=self.spec.timeout, follow_redirects=False, trust_env=False) as client:
            return await self._send(client, url, body)

    async def _send(self, client: httpx.AsyncClient, url: str, body: Mapping[str, Any]) -> tuple[int, bytes]:
        # Streamed so an oversized answer is cut off instead of filling memory.
        async with client.stream("POST", url, json=body, timeout=self.spec.timeout,
                                 follow_redirects=False) as response:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise ProviderUnavailable(self.spec.id, f"response larger than {self.max_bytes} bytes")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    def _parse(self, payload: bytes) -> dict[str, ProvidedValue]:
        try:
            data = json.loads(payload)
        except ValueError:
            raise ProviderUnavailable(self.spec.id, "response is not JSON") from None
        found = data.get("items") if isinstance(data, dict) else None
        if not isinstance(found, dict):
            raise ProviderUnavailable(self.spec.id, "response has no 'items' object")
        result: dict[str, ProvidedValue] = {}
        for item, entry in found.items():
            if isinstance(entry, dict) and "value" in entry:
                result[str(item)] = ProvidedValue(entry["value"], self.spec.department,
                                                  _parse_time(entry.get("updatedAt")),
                                                  verified=str(item) in self.spec.authoritative)
        return result


SpecSource = Callable[[], Mapping[str, ProviderSpec]]


class ProviderRegistry:
    """The adapter for every catalogue provider, by id.

    Specs are read from ``source`` on each lookup, so a reloaded catalogue's new or changed providers are
    served without a restart; adapters are built once per distinct spec.
    """

    def __init__(self, source: SpecSource, *, database: Database, cipher: FieldCipher, profiles: ProfileService,
                 client: httpx.AsyncClient | None = None) -> None:
        self.source = source
        self._database, self._cipher, self._profiles, self._client = database, cipher, profiles, client
        self._adapters: dict[ProviderSpec, DataProvider] = {}

    @classmethod
    def build(cls, specs: Mapping[str, ProviderSpec] | SpecSource, *, database: Database, cipher: FieldCipher,
              profiles: ProfileService, client: httpx.AsyncClient | None = None) -> ProviderRegistry:
        source: SpecSource = specs if callable(specs) else (lambda: specs)
        return cls(source, database=database, cipher=cipher, profiles=profiles, client=client)

    def _adapter(self, spec: ProviderSpec) -> DataProvider:
        adapter = self._adapters.get(spec)
        if adapter is None:
            if spec.id == EME:
                adapter = EmeProvider(spec, self._database, self._profiles)
            elif spec.kind == "http":
                adapter = HttpProvider(spec, client=self._client)
            else:
                adapter = SqlRegistryProvider(spec, self._database, self._cipher)
            self._adapters[spec] = adapter
        return adapter

    def get(self, provider_id: str) -> DataProvider:
        spec = self.source().get(provider_id)
        if spec is None:
            raise UnknownProvider(provider_id)
        return self._adapter(spec)

    def specs(self) -> dict[str, ProviderSpec]:
        return dict(self.source())

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self.source()

    def verified_items(self) -> dict[str, str]:
        """The e-ME items shown from an authoritative record: e-ME item id -> ``provider.item``."""
        eme = self.source().get(EME)
        return dict(eme.verified_by) if eme is not None else {}

    async def verified_values(self, citizen: Citizen) -> dict[str, VerifiedValue]:
        """The citizen's verified e-ME items, read from their authoritative providers (by e-ME item id)."""
        by_provider: dict[str, list[tuple[str, str]]] = {}
        for eme_item, ref in self.verified_items().items():
            provider_id, _, item_id = ref.partition(".")
            by_provider.setdefault(provider_id, []).append((eme_item, item_id))
        found: dict[str, VerifiedValue] = {}
        for provider_id, pairs in by_provider.items():
            values = await self.get(provider_id).fetch(citizen, [item for _, item in pairs])
            for eme_item, item_id in pairs:
                value = values.get(item_id)
                if value is not None:
                    found[eme_item] = VerifiedValue(value.value, value.source_department, value.updated_at)
        return found


def _records(dialect: str) -> Any:
    records = ProviderRecordRow.__table__.c
    return select(ProviderRecordRow.__table__).where(
        records.citizen_id == bindparam("citizen"), records.provider_id == bindparam("provider"),
        records.item_id.in_(bindparam("items", expanding=True)))
