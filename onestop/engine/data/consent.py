"""Consent artefacts: signed, purpose-bound, revocable authorisations to fetch named data items.

Modes:
- ``one-off``: valid for the one application that asked (``application_id``) until that application ends
  (``end_for_application``) or the consent expires (default 30 days, the default draft lifetime),
  whichever is first. Fetching does not consume it, so a workflow can retry a failed fetch.
- ``standing``: valid for any application of the same service and purpose until it expires (``valid_for``).
Either is dead the moment the citizen revokes it: the gateway reads the row on every fetch.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from onestop.catalogue.predicates import split_ref
from onestop.engine import metrics
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.profiles import Citizen, CitizenDirectory
from onestop.engine.data.providers import ProviderSpec
from onestop.engine.db import ConsentRow, Database
from onestop.engine.db.prepared import prepared
from onestop.engine.errors import (
    ConsentExpired,
    ConsentRequired,
    ConsentRevoked,
    FieldError,
    InvalidInput,
    ItemsNotConsented,
    NotFound,
    PurposeMismatch,
    SignatureInvalid,
    field_error,
)
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink

Mode = Literal["one-off", "standing"]
ONE_OFF_DEFAULT = timedelta(days=30)
STANDING_DEFAULT = timedelta(days=365)
CONSENT_TYP = "onestop-consent+jws"
RECEIPT_TYP = "onestop-consent-revocation+jws"
# Lawful basis of the consents the platform records when citizens browse their own data.
SELF_ACCESS_BASIS = "data-subject-access"
ELIGIBILITY_BASIS = "eligibility-check"
"""The lawful basis of reading an authoritative record to decide eligibility: a public task, not a consent the
citizen gave, so (like self-access) it is logged but not listed among their consents."""


def purpose_text(purpose: Any) -> dict[str, str]:
    """A purpose as ``{lang: text}`` with whitespace normalised (accepts a mapping or a LocalizedText)."""
    if hasattr(purpose, "model_dump"):
        purpose = purpose.model_dump(mode="json")
    if not isinstance(purpose, Mapping):
        raise InvalidInput([field_error(("purpose",), "give the purpose as text per language ({en, tc})")])
    return {str(lang): " ".join(str(text).split()) for lang, text in purpose.items() if text}


def _same_purpose(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    # sc is derived from tc, so compare on the languages both sides have, requiring en and tc to be among them.
    shared = set(a) & set(b)
    return {"en", "tc"} <= shared and all(a[lang] == b[lang] for lang in shared)


@dataclass(frozen=True)
class Consent:
    """A consent artefact as stored and signed."""

    id: str
    citizen_ref: str
    service_slug: str
    service_hash: str
    department: str
    providers: tuple[str, ...]
    items: tuple[str, ...]
    purpose: Mapping[str, str]
    lawful_basis: str
    mode: str
    acr: str
    application_id: str | None
    step_id: str | None
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    jws: str
    receipt_jws: str | None = None  # the signed revocation receipt, once revoked
    # Who gave it when not the citizen the data is about: a parent, carer or guardian acting for them (their ref).
    actor_ref: str | None = None

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if (now or datetime.now(UTC)) >= self.expires_at else "active"


@dataclass(frozen=True)
class SignedReceipt:
    """Proof of a revocation, signed by the platform."""

    consent_id: str
    revoked_at: datetime
    jws: str


def _artefact(consent: Consent) -> dict[str, Any]:
    return {
        "type": "onestop.consent.v1", "id": consent.id, "citizen": consent.citizen_ref,
        "service": {"slug": consent.service_slug, "contentHash": consent.service_hash},
        "department": consent.department, "providers": list(consent.providers), "items": list(consent.items),
        "purpose": dict(consent.purpose), "lawfulBasis": consent.lawful_basis, "mode": consent.mode,
        "acr": consent.acr, "applicationId": consent.application_id, "stepId": consent.step_id,
        "grantedAt": consent.granted_at.isoformat(), "expiresAt": consent.expires_at.isoformat(),
    } | ({"actor": consent.actor_ref} if consent.actor_ref is not None else {})


def _live(scope: ColumnElement[bool]) -> Any:
    consents = ConsentRow.__table__.c
    return select(ConsentRow.__table__).where(
        consents.citizen_id == bindparam("citizen"), consents.service_slug == bindparam("service"), scope,
        consents.revoked_at.is_(None), consents.expires_at > bindparam("at"),
    ).order_by(consents.granted_at.desc())


def _live_standing(dialect: str) -> Any:
    return _live(ConsentRow.__table__.c.mode == "standing")


def _live_for_step(dialect: str) -> Any:
    consents = ConsentRow.__table__.c
    return _live((consents.application_id == bindparam("application")) & (consents.step_id == bindparam("step")))


class ConsentService:
    """Grant, list, revoke and check consents. Another citizen's consent is indistinguishable from none."""

    events: EventSink = NO_EVENTS

    def __init__(self, database: Database, citizens: CitizenDirectory, signer: Signer,
                 providers: Mapping[str, ProviderSpec] | Callable[[], Mapping[str, ProviderSpec]]) -> None:
        self.database = database
        self.citizens = citizens
        self.signer = signer
        self.providers = providers

    def _consent(self, row: Any, citizen: Citizen) -> Consent:
        return Consent(
            id=row.id, citizen_ref=citizen.ref, service_slug=row.service_slug, service_hash=row.service_hash,
            department=row.department, providers=tuple(row.providers), items=tuple(row.items),
            purpose=dict(row.purpose), lawful_basis=row.lawful_basis, mode=row.mode, acr=row.acr,
            application_id=row.application_id, step_id=row.step_id, granted_at=row.granted_at,
            expires_at=row.expires_at, revoked_at=row.revoked_at, jws=row.jws, receipt_jws=row.receipt_jws,
            actor_ref=row.actor_ref,
        )

    def _check_items(self, items: Sequence[str], required: bool = True) -> tuple[tuple[str, ...], tuple[str, ...]]:
        errors: list[FieldError] = []
        specs = self.providers() if callable(self.providers) else self.providers
        if not items and required:
            errors.append(field_error(("items",), "list at least one data item (provider.item)"))
        for index, item in enumerate(items):
            # A predicate (item?check) is consented to as itself: the check is what the citizen agreed to.
            provider_id, _, item_id = split_ref(item)[0].partition(".")
            spec = specs.get(provider_id)
            if spec is None:
                errors.append(field_error(("items", str(index)), f"unknown data provider {provider_id!r}",
                                         "UNKNOWN_PROVIDER"))
            elif item_id not in spec.items:
                errors.append(field_error(("items", str(index)),
                                         f"provider {provider_id!r} has no item {item_id!r}; "
                                         f"it offers {', '.join(spec.items)}", "UNKNOWN_DATA_ITEM"))
        if errors:
            raise InvalidInput(errors)
        ordered = tuple(sorted(set(items)))
        return ordered, tuple(sorted({item.partition(".")[0] for item in ordered}))

    async def grant(self, who: str | Citizen, *, service_slug: str, service_hash: str, department: str,
                    items: Sequence[str], purpose: Any, acr: str, lawful_basis: str = "consent",
                    mode: Mode = "one-off", valid_for: timedelta | None = None,
                    application_id: str | None = None, step_id: str | None = None,
                    now: datetime | None = None, grant_key: str | None = None,
                    items_required: bool = True, actor_ref: str | None = None) -> Consent:
        """Record and sign a consent for exactly ``items`` (``provider.item``) for ``purpose``.

        ``items_required=False`` records a consent step's grant to ``department`` that names no data items.
        ``who`` is the citizen's ``sub`` (GraphQL) or a resolved ``Citizen`` (workflow activities, by ref).
        ``grant_key`` names one logical grant: granting again under it returns the consent already recorded.
        ``actor_ref`` names who grants it when not the citizen (someone acting for them); signed into the artefact.
        """
        if not isinstance(who, Citizen):
            self._check(mode, valid_for, purpose, items, items_required)  # before a new citizen is recorded
        citizen = who if isinstance(who, Citizen) else await self.citizens.ensure(who)
        consent, row = self.prepare(
            citizen, service_slug=service_slug, service_hash=service_hash, department=department, items=items,
            purpose=purpose, acr=acr, lawful_basis=lawful_basis, mode=mode, valid_for=valid_for,
            application_id=application_id, step_id=step_id, now=now, grant_key=grant_key,
            items_required=items_required, actor_ref=actor_ref)
        try:
            async with self.database.session() as session:
                session.add(row)
        except IntegrityError:
            if grant_key is None:
                raise
            # Another attempt of the same grant (a retried activity whose first attempt still ran) recorded it.
            first = await self.by_grant_key(citizen, grant_key)
            if first is None:
                raise
            return first
        self.recorded(consent)
        return consent

    def prepare(self, citizen: Citizen, *, service_slug: str, service_hash: str, department: str,
                items: Sequence[str], purpose: Any, acr: str, lawful_basis: str = "consent",
                mode: Mode = "one-off", valid_for: timedelta | None = None,
                application_id: str | None = None, step_id: str | None = None,
                now: datetime | None = None, grant_key: str | None = None,
                items_required: bool = True, actor_ref: str | None = None) -> tuple[Consent, ConsentRow]:
        """A signed consent and its row, not yet written: the caller adds the row in its own transaction (a
        prefill writes it with the access-log entries of the fetch it allows) and then calls ``recorded``."""
        text, ordered, providers = self._check(mode, valid_for, purpose, items, items_required)
        granted = (now or datetime.now(UTC)).astimezone(UTC)
        default = ONE_OFF_DEFAULT if mode == "one-off" else STANDING_DEFAULT
        consent = Consent(
            id=str(uuid.uuid4()), citizen_ref=citizen.ref, service_slug=service_slug, service_hash=service_hash,
            department=department, providers=providers, items=ordered, purpose=text, lawful_basis=lawful_basis,
            mode=mode, acr=acr, application_id=application_id, step_id=step_id, granted_at=granted,
            expires_at=granted + (valid_for or default), revoked_at=None, jws="",
            actor_ref=actor_ref if actor_ref != citizen.ref else None,
        )
        jws = self.signer.sign(_artefact(consent), typ=CONSENT_TYP)
        row = ConsentRow(
            id=consent.id, citizen_id=citizen.id, service_slug=service_slug, service_hash=service_hash,
            department=department, providers=list(providers), items=list(ordered), purpose=text,
            lawful_basis=lawful_basis, mode=mode, acr=acr, application_id=application_id, step_id=step_id,
            granted_at=granted, expires_at=consent.expires_at, revoked_at=None, jws=jws, grant_key=grant_key,
            actor_ref=consent.actor_ref,
        )
        return replace(consent, jws=jws), row

    def _check(self, mode: str, valid_for: timedelta | None, purpose: Any, items: Sequence[str],
               items_required: bool) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
        if mode not in ("one-off", "standing"):
            raise InvalidInput([field_error(("mode",), "mode must be one-off or standing")])
        if valid_for is not None and valid_for <= timedelta(0):
            raise InvalidInput([field_error(("validFor",), "give a positive duration")])
        text = purpose_text(purpose)
        if not {"en", "tc"} <= set(text):
            raise InvalidInput([field_error(("purpose",), "state the purpose in English (en) and Chinese (tc)")])
        return (text, *self._check_items(items, items_required))

    async def by_grant_key(self, citizen: Citizen, grant_key: str) -> Consent | None:
        """The consent recorded under ``grant_key``, if any."""
        async with self.database.session() as session:
            row = await session.scalar(select(ConsentRow).where(
                ConsentRow.citizen_id == citizen.id, ConsentRow.grant_key == grant_key))
        return None if row is None else self._consent(row, citizen)

    def recorded(self, consent: Consent) -> None:
        """Count and report a consent once its row is committed."""
        metrics.CONSENTS_GRANTED.labels(consent.department).inc()
        self.events.record(EventKind.CONSENT_GRANTED, citizen_ref=consent.citizen_ref, service=consent.service_slug,
                           providers=list(consent.providers), at=consent.granted_at)

    async def _row(self, sub: str, consent_id: str) -> tuple[ConsentRow, Citizen]:
        citizen = await self.citizens.get(sub)
        async with self.database.session() as session:
            row = await session.get(ConsentRow, consent_id) if citizen else None
        if row is None or citizen is None or row.citizen_id != citizen.id:
            raise NotFound("consent", consent_id)
        return row, citizen

    async def get(self, sub: str, consent_id: str) -> Consent:
        """One of the caller's consents; ``NotFound`` for unknown ids and for other citizens' consents alike."""
        row, citizen = await self._row(sub, consent_id)
        return self._consent(row, citizen)

    async def list(self, sub: str, *, include_self_access: bool = False) -> list[Consent]:
        """The caller's consents, newest first."""
        citizen = await self.citizens.get(sub)
        if citizen is None:
            return []
        query = select(ConsentRow).where(ConsentRow.citizen_id == citizen.id)
        if not include_self_access:
            query = query.where(ConsentRow.lawful_basis.not_in((SELF_ACCESS_BASIS, ELIGIBILITY_BASIS)))
        async with self.database.session() as session:
            rows = (await session.scalars(query.order_by(ConsentRow.granted_at.desc(), ConsentRow.id))).all()
        return [self._consent(row, citizen) for row in rows]

    async def revoke(self, sub: str, consent_id: str, *, now: datetime | None = None) -> SignedReceipt:
        """Revoke at once; revoking again returns the receipt of the first revocation."""
        row, citizen = await self._row(sub, consent_id)
        if row.revoked_at is not None and row.receipt_jws:
            return SignedReceipt(consent_id, row.revoked_at, row.receipt_jws)
        revoked = (now or datetime.now(UTC)).astimezone(UTC)
        receipt = self.signer.sign({
            "type": "onestop.consent-revocation.v1", "consentId": consent_id, "citizen": citizen.ref,
            "consent": hashlib.sha256(row.jws.encode()).hexdigest(), "revokedAt": revoked.isoformat(),
        }, typ=RECEIPT_TYP)
        async with self.database.session() as session:
            done = await session.execute(
                update(ConsentRow).where(ConsentRow.id == consent_id, ConsentRow.revoked_at.is_(None))
                .values(revoked_at=revoked, receipt_jws=receipt)
            )
        if getattr(done, "rowcount", 1) == 0:  # a concurrent revoke won; return its receipt
            row, _ = await self._row(sub, consent_id)
            assert row.revoked_at is not None
            assert row.receipt_jws is not None
            return SignedReceipt(consent_id, row.revoked_at, row.receipt_jws)
        self.events.record(EventKind.CONSENT_REVOKED, citizen_ref=citizen.ref, service=row.service_slug, at=revoked)
        metrics.CONSENTS_REVOKED.inc()
        return SignedReceipt(consent_id, revoked, receipt)

    def verify(self, consent: Consent) -> None:
        """Check the artefact's signature and that it matches the record; raises ``SignatureInvalid``."""
        payload = self.signer.verify(consent.jws, typ=CONSENT_TYP).payload
        if dict(payload) != _artefact(consent):
            raise SignatureInvalid(f"consent {consent.id} differs from what was signed")

    async def require_live(self, citizen: Citizen, consent_id: str | None, *, service_slug: str, purpose: Any,
                           items: Sequence[str], application_id: str | None,
                           now: datetime | None = None, loaded: Consent | None = None) -> Consent:
        """The consent, when it is live and covers this exact use; else the specific ``ConsentRequired``.

        ``loaded`` is the consent as the caller has just read or granted it in this same operation (a prefill):
        checked as it is, without reading it again.
        """
        if consent_id is None:
            raise ConsentRequired()
        if loaded is not None and loaded.id == consent_id and loaded.citizen_ref == citizen.ref:
            consent = loaded
        else:
            async with self.database.session() as session:
                row = await session.get(ConsentRow, consent_id)
            if row is None or row.citizen_id != citizen.id:
                raise ConsentRequired(f"no consent {consent_id} for this citizen; ask the citizen to grant one")
            consent = self._consent(row, citizen)
        status = consent.status(now)
        if status == "revoked":
            raise ConsentRevoked(consent_id)
        if status == "expired":
            raise ConsentExpired(consent_id)
        if consent.service_slug != service_slug:
            raise PurposeMismatch(consent_id, "service")
        if consent.mode == "one-off" and consent.application_id is not None \
                and application_id != consent.application_id:
            raise PurposeMismatch(consent_id, "application (a one-off consent serves only the one that asked)")
        if not _same_purpose(consent.purpose, purpose_text(purpose)):
            raise PurposeMismatch(consent_id)
        extra = sorted(set(items) - set(consent.items))
        if extra:
            raise ItemsNotConsented(consent_id, extra)
        return consent

    async def find_live(self, citizen: Citizen, *, application_id: str, step_id: str, service_slug: str,
                        items: Sequence[str], purpose: Any, mode: Mode = "one-off",
                        now: datetime | None = None) -> Consent | None:
        """A live consent that already covers this prefill: for exactly these items and purpose, granted by
        this application step, or, for ``standing`` mode, any live standing consent for the service.

        Lets a retried prefill activity reuse its consent instead of granting a duplicate, and a standing
        consent serve later applications as the citizen agreed.
        """
        at = (now or datetime.now(UTC)).astimezone(UTC)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(
                prepared(connection, _live_standing if mode == "standing" else _live_for_step),
                {"citizen": citizen.id, "service": service_slug, "at": at, "application": application_id,
                 "step": step_id})).all()
        wanted, text = sorted(set(items)), purpose_text(purpose)
        for row in rows:
            if list(row.items) == wanted and _same_purpose(row.purpose, text):
                return self._consent(row, citizen)
        return None

    async def end_for_application(self, application_id: str, *, now: datetime | None = None) -> int:
        """End the one-off consents of a finished application; the number ended."""
        ended = (now or datetime.now(UTC)).astimezone(UTC)
        async with self.database.session() as session:
            done = await session.execute(
                update(ConsentRow).where(
                    ConsentRow.application_id == application_id, ConsentRow.mode == "one-off",
                    ConsentRow.revoked_at.is_(None), ConsentRow.expires_at > ended,
                ).values(expires_at=ended)
            )
        return int(getattr(done, "rowcount", 0) or 0)

