"""The consented data-exchange gateway: the only way personal data leaves a provider.

Every fetch checks a live consent for the requested items and purpose, calls the providers, returns only
the consented items with their provenance, and appends one access-log entry per provider, allowed or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError

from onestop.catalogue.catalogue import Catalogue
from onestop.catalogue.expressions import ExpressionError
from onestop.catalogue.predicates import evaluate, split_ref
from onestop.config import Settings
from onestop.engine import metrics
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.accesslog import (
    ALLOWED,
    FAILED,
    REFUSED,
    AccessLog,
    NewEntry,
    append_entries,
    fetch_key,
    lock_chain,
)
from onestop.engine.data.consent import ELIGIBILITY_BASIS, SELF_ACCESS_BASIS, Consent, ConsentService, Mode
from onestop.engine.data.profiles import Citizen, CitizenDirectory, ProfileService
from onestop.engine.data.providers import (
    ProvidedValue,
    ProviderRegistry,
    ProviderSpec,
    SpecSource,
    specs_from_catalogue,
)
from onestop.engine.db import ConsentRow, Database
from onestop.engine.db.prepared import insert_row
from onestop.engine.errors import (
    ConsentRequired,
    EngineError,
    FieldError,
    InvalidInput,
    NotFound,
    ProviderUnavailable,
    field_error,
)
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink

SELF_ACCESS_SERVICE = "onestop:personal-data"
SELF_ACCESS_PURPOSE = {
    "en": "Citizen viewing own data",
    "tc": "市民查閱本人資料",
    "sc": "市民查阅本人资料",
}
SELF_ACCESS_LIFETIME = timedelta(minutes=1)
ELIGIBILITY_PURPOSE = {
    "en": "Checking your eligibility for the service against the official record",
    "tc": "按官方紀錄核對你是否符合申請資格",
    "sc": "按官方纪录核对你是否符合申请资格",
}


class _GrantRaced(Exception):
    """A prefill's consent was not written: another attempt of the same prefill wrote one under its key first."""

    def __init__(self, grant_key: str) -> None:
        super().__init__(grant_key)
        self.grant_key = grant_key


@dataclass(frozen=True)
class FetchedItem:
    """A consented value and where it came from."""

    item: str  # provider.item
    value: Any
    provider_id: str
    source_department: str
    updated_at: datetime | None
    verified: bool = False


@dataclass(frozen=True)
class FetchResult:
    consent_id: str
    items: Mapping[str, FetchedItem]
    missing: tuple[str, ...]  # consented and requested, but the provider holds no value


def _split(items: Sequence[str]) -> dict[str, list[str]]:
    by_provider: dict[str, list[str]] = {}
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        provider_id, dot, item_id = item.partition(".")
        if not dot or not provider_id or not item_id:
            errors.append(field_error(("items", str(index)), "name items as provider.item, e.g. eme.nameEn"))
            continue
        by_provider.setdefault(provider_id, [])
        if item_id not in by_provider[provider_id]:
            by_provider[provider_id].append(item_id)
    if errors or not items:
        raise InvalidInput(errors or [field_error(("items",), "request at least one item")])
    return by_provider


class DataGateway:
    """Consent-checked, logged, trimmed access to providers."""

    events: EventSink = NO_EVENTS

    def __init__(self, citizens: CitizenDirectory, consents: ConsentService, providers: ProviderRegistry,
                 access_log: AccessLog) -> None:
        self.citizens = citizens
        self.consents = consents
        self.providers = providers
        self.access_log = access_log

    async def fetch(self, who: str | Citizen, *, consent_id: str | None, service_slug: str, purpose: Any,
                    items: Sequence[str], department: str = "", application_id: str | None = None,
                    now: datetime | None = None, fetch_id: str | None = None,
                    consent: Consent | None = None, actor_ref: str | None = None) -> FetchResult:
        """Fetch ``items`` (``provider.item``) for ``service_slug`` under ``consent_id``.

        ``who`` is the caller's ``sub`` or a resolved ``Citizen`` (activities resolve ``citizen_ref`` first).

        Raises a ``ConsentRequired`` subclass (revoked, expired, items not covered, purpose mismatch) after
        logging the refusal, or ``ProviderUnavailable`` after logging the failure.

        ``fetch_id`` names one logical fetch, the same on every retry of it: a retry logs nothing its first
        attempt already logged (the same provider with the same outcome). ``consent`` is that consent as the caller
        found or granted it a moment ago (see ``ConsentService.require_live``).

        ``actor_ref``: who the fetch is for when not the citizen (a parent, carer or guardian), kept in the entry.
        """
        return await self._fetch(who, consent_id=consent_id, service_slug=service_slug, purpose=purpose, items=items,
                                 department=department, application_id=application_id, now=now, fetch_id=fetch_id,
                                 consent=consent, actor_ref=actor_ref, unsaved=None)

    async def _fetch(self, who: str | Citizen, *, consent_id: str | None, service_slug: str, purpose: Any,
                     items: Sequence[str], department: str, application_id: str | None, now: datetime | None,
                     fetch_id: str | None, consent: Consent | None, actor_ref: str | None,
                     unsaved: ConsentRow | None) -> FetchResult:
        """``fetch``; ``unsaved`` is the row of ``consent`` when it is not written yet: it is written in the one
        transaction that appends the fetch's access-log entries, so there is never a consent without them."""
        by_provider = _split(items)
        citizen = who if isinstance(who, Citizen) else await self.citizens.get(who)
        if citizen is None:
            raise ConsentRequired()
        at = (now or datetime.now(UTC)).astimezone(UTC)
        entries: list[NewEntry] = []

        def log(provider_id: str, provider_items: Sequence[str], outcome: str, reason: str | None,
                dept: str) -> None:
            metrics.GATEWAY_FETCHES.labels(provider_id, outcome).inc()
            entries.append(NewEntry(
                service_slug=service_slug, department=dept, provider_id=provider_id,
                items=[f"{provider_id}.{i}" for i in provider_items], consent_id=consent_id,
                application_id=application_id, outcome=outcome, reason=reason, at=at,
                fetch_key=None if fetch_id is None else fetch_key(
                    application_id or "", fetch_id, consent_id or "", provider_id, outcome),
                actor_ref=actor_ref if actor_ref != citizen.ref else None,
            ))

        unsaved_consent = consent if unsaved is not None else None
        try:
            consent = await self.consents.require_live(
                citizen, consent_id, service_slug=service_slug, purpose=purpose, items=items,
                application_id=application_id, now=at, loaded=consent,
            )
        except ConsentRequired as refusal:
            for provider_id, provider_items in by_provider.items():
                log(provider_id, provider_items, REFUSED, refusal.code, department)
            await self._record(citizen, entries, unsaved, unsaved_consent)
            raise
        assert consent_id is not None  # require_live refuses a missing id

        outcomes = await asyncio.gather(
            *(self._fetch_one(citizen, pid, pitems, consent.jws) for pid, pitems in by_provider.items()),
            return_exceptions=True,
        )
        fetched: dict[str, FetchedItem] = {}
        failure: BaseException | None = None
        for (provider_id, provider_items), outcome in zip(by_provider.items(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation and interpreter exits are not provider failures
                code = outcome.code if isinstance(outcome, EngineError) else "PROVIDER_ERROR"
                log(provider_id, provider_items, FAILED, code, consent.department)
                failure = failure or outcome
                continue
            log(provider_id, provider_items, ALLOWED, None, consent.department)
            # Trim: whatever the provider sent, only requested (hence consented) items pass.
            for item_id in provider_items:
                base, check = split_ref(item_id)
                value = outcome.get(base)
                if value is None:
                    continue
                key = f"{provider_id}.{item_id}"
                shared: Any = value.value
                if check is not None:
                    # A predicate: the record stays here; only whether it satisfies the check goes on.
                    try:
                        shared = evaluate(check, value.value, at.date())
                    except ExpressionError:
                        continue  # neither true nor false: reported as missing, never as a "no"
                fetched[key] = FetchedItem(key, shared, provider_id, value.source_department,
                                           value.updated_at, value.verified)
        await self._record(citizen, entries, unsaved, unsaved_consent)
        if failure is not None:
            if isinstance(failure, EngineError):
                raise failure
            raise ProviderUnavailable("/".join(by_provider), type(failure).__name__) from failure
        missing = tuple(item for item in dict.fromkeys(items) if item not in fetched)
        return FetchResult(consent_id, fetched, missing)

    async def _record(self, citizen: Citizen, entries: Sequence[NewEntry], unsaved: ConsentRow | None,
                      consent: Consent | None) -> None:
        """One transaction: the consent not written yet (if any) and the access-log entries of the fetch."""
        try:
            async with self.access_log.database.engine.begin() as connection:
                if unsaved is not None and connection.dialect.name == "sqlite":
                    # SQLite's lock is the whole database's, taken by a transaction's first write: the consent's
                    # insert takes it for the chain, one statement fewer with the lock held across the event loop.
                    await insert_row(connection, unsaved)
                else:
                    # The chain's lock before the consent's row: on PostgreSQL that row's foreign key takes a share
                    # lock on the citizen, which two prefills of one citizen would each hold while waiting for the
                    # other's.
                    await lock_chain(connection, citizen.id)
                    if unsaved is not None:
                        await insert_row(connection, unsaved)
                await append_entries(connection, citizen.id, entries, locked=True, ends_transaction=True)
        except IntegrityError as exc:
            if unsaved is None or unsaved.grant_key is None:
                raise
            raise _GrantRaced(unsaved.grant_key) from exc
        if consent is not None:
            self.consents.recorded(consent)
        for entry in entries:
            self.events.record(EventKind.DATA_ACCESS, citizen_ref=citizen.ref, provider=entry.provider_id,
                               service=entry.service_slug, outcome=entry.outcome, reason=entry.reason, at=entry.at)

    async def _fetch_one(self, citizen: Citizen, provider_id: str, items: Sequence[str],
                         consent_jws: str) -> Mapping[str, ProvidedValue]:
        # A predicate needs its item's record: the provider is asked for the item, once.
        records = list(dict.fromkeys(split_ref(item)[0] for item in items))
        return await self.providers.get(provider_id).fetch(citizen, records, consent_jws=consent_jws)

    async def prefill(self, citizen_ref: str, *, application_id: str, step_id: str, service_slug: str,
                      service_hash: str, department: str, items: Sequence[str], purpose: Any, acr: str,
                      lawful_basis: str = "consent", mode: Mode = "one-off", valid_for: timedelta | None = None,
                      now: datetime | None = None, fetch_id: str | None = None,
                      actor_ref: str | None = None) -> tuple[Consent, FetchResult]:
        """A prefill step: consent for exactly ``items`` (reused when a retry already granted it), then fetch.

        ``fetch_id`` (the same on every attempt of one prefill) makes the consent and the access-log entries
        idempotent: a retry after a crash reuses them instead of adding more.
        """
        citizen = await self.citizens.by_ref(citizen_ref)
        if citizen is None:
            raise NotFound("citizen", citizen_ref)
        consent = await self.consents.find_live(
            citizen, application_id=application_id, step_id=step_id, service_slug=service_slug, items=items,
            purpose=purpose, mode=mode, now=now,
        )
        unsaved = None
        if consent is None:
            # Signed now; written with the fetch's access-log entries, in one transaction (``_record``).
            consent, unsaved = self.consents.prepare(
                citizen, service_slug=service_slug, service_hash=service_hash, department=department, items=items,
                purpose=purpose, acr=acr, lawful_basis=lawful_basis, mode=mode, valid_for=valid_for,
                application_id=application_id, step_id=step_id, now=now,
                grant_key=None if fetch_id is None else fetch_key(application_id, step_id, fetch_id),
                actor_ref=actor_ref,
            )
        fetching: dict[str, Any] = {
            "service_slug": service_slug, "purpose": purpose, "items": items, "department": department,
            "application_id": application_id, "now": now, "actor_ref": actor_ref,
            "fetch_id": None if fetch_id is None else f"{step_id}\x1f{fetch_id}"}
        try:
            result = await self._fetch(citizen, consent_id=consent.id, consent=consent, unsaved=unsaved, **fetching)
        except _GrantRaced as raced:
            # Another attempt of this prefill (a retry while the first attempt still ran) wrote its consent first:
            # fetch under that one, as that attempt did.
            recorded = await self.consents.by_grant_key(citizen, raced.grant_key)
            if recorded is None:
                raise
            consent = recorded
            result = await self._fetch(citizen, consent_id=consent.id, consent=consent, unsaved=None, **fetching)
        return consent, result

    async def eligibility_facts(self, citizen: Citizen, items: Sequence[str], *, service_slug: str, service_hash: str,
                                department: str, acr: str, now: datetime | None = None,
                                actor_ref: str | None = None) -> FetchResult:
        """Authoritative items (``provider.item``) an eligibility rule needs, read like any other access.

        Recorded as a short-lived artefact with lawful basis ``eligibility-check`` (a public task: not listed among
        the citizen's consents) and an access-log entry per provider, so the citizen sees who read what and why.
        """
        at = (now or datetime.now(UTC)).astimezone(UTC)
        consent = await self.consents.grant(
            citizen, service_slug=service_slug, service_hash=service_hash, department=department, items=items,
            purpose=ELIGIBILITY_PURPOSE, acr=acr, lawful_basis=ELIGIBILITY_BASIS, mode="one-off",
            valid_for=SELF_ACCESS_LIFETIME, now=at, actor_ref=actor_ref,
        )
        return await self.fetch(citizen, consent_id=consent.id, service_slug=service_slug,
                                purpose=ELIGIBILITY_PURPOSE, items=items, department=department, now=at,
                                actor_ref=actor_ref)

    async def personal_data(self, sub: str, provider_id: str, *, acr: str,
                            now: datetime | None = None) -> FetchResult:
        """Everything ``provider_id`` holds about the caller, for ``viewer { personalData }``.

        Recorded like any other access: a short-lived self-access consent (lawful basis
        ``data-subject-access``, not listed among the citizen's consents) and an access-log entry.
        """
        spec = self.providers.get(provider_id).spec
        at = (now or datetime.now(UTC)).astimezone(UTC)
        items = [f"{provider_id}.{item}" for item in spec.items]
        consent = await self.consents.grant(
            sub, service_slug=SELF_ACCESS_SERVICE, service_hash="", department=spec.department, items=items,
            purpose=SELF_ACCESS_PURPOSE, acr=acr, lawful_basis=SELF_ACCESS_BASIS, mode="one-off",
            valid_for=SELF_ACCESS_LIFETIME, now=at,
        )
        return await self.fetch(sub, consent_id=consent.id, service_slug=SELF_ACCESS_SERVICE,
                                purpose=SELF_ACCESS_PURPOSE, items=items, department=spec.department, now=at)


@dataclass(frozen=True)
class DataServices:
    """Every data-and-consent service, wired together; what the container and the worker hold."""

    database: Database
    cipher: FieldCipher
    signer: Signer
    citizens: CitizenDirectory
    profiles: ProfileService
    consents: ConsentService
    access_log: AccessLog
    providers: ProviderRegistry
    gateway: DataGateway

    @classmethod
    def build(cls, settings: Settings, catalogue: Catalogue | Callable[[], Catalogue], database: Database, *,
              http_client: httpx.AsyncClient | None = None) -> DataServices:
        """Construct from settings (keys), a catalogue and a ``Database``.

        ``catalogue`` may be a callable returning the current one (``lambda: store.catalogue``), so providers
        declared by a reloaded catalogue are served without a restart.
        """
        cipher = FieldCipher(KeyRing.from_settings(settings))
        signer = Signer.from_settings(settings)
        current: Callable[[], Catalogue] = catalogue if callable(catalogue) else (lambda: catalogue)
        cache: dict[str, Mapping[str, ProviderSpec]] = {}

        def specs() -> Mapping[str, ProviderSpec]:
            loaded = current()
            if loaded.version not in cache:
                cache.clear()
                cache[loaded.version] = specs_from_catalogue(loaded)
            return cache[loaded.version]

        return cls.assemble(database, cipher, signer, specs, districts=_districts(current()),
                            http_client=http_client)

    @classmethod
    def assemble(cls, database: Database, cipher: FieldCipher, signer: Signer,
                 specs: Mapping[str, ProviderSpec] | SpecSource, *, districts: Collection[str] | None = None,
                 http_client: httpx.AsyncClient | None = None) -> DataServices:
        """Wire the services from parts (tests, or a deployment with its own keys)."""
        citizens = CitizenDirectory(database, cipher)
        profiles = ProfileService(database, cipher, citizens, districts=districts)
        consents = ConsentService(database, citizens, signer, specs)
        access_log = AccessLog(database, citizens, signer)
        providers = ProviderRegistry.build(specs, database=database, cipher=cipher, profiles=profiles,
                                           client=http_client)
        profiles.records = providers
        gateway = DataGateway(citizens, consents, providers, access_log)
        return cls(database, cipher, signer, citizens, profiles, consents, access_log, providers, gateway)


def _districts(catalogue: Catalogue) -> frozenset[str] | None:
    options = catalogue.option_lists.get("districts")
    return frozenset(option.value for option in options) if options else None
