"""Provisioning a provider's sandbox: ids, OIDC client, staff logins and synthetic test citizens.

Every write is keyed by what the approved application determines (its id), so running it again, after a retry or
a second approval, finds what the first run wrote and adds only what is missing: one sandbox per application.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database, SandboxMemberRow, SandboxRow
from onestop.workflows.sandbox import PROVISION_SANDBOX, AgeGroupSpan, ProvisionRequest, ProvisionResult

STAFF_ROLES = ("caseworker", "approver", "provider")
"""The roles of a provider's staff in their own sandbox (their department is the sandbox's namespace)."""

_SURNAMES = ("CHAN", "WONG", "LEE", "CHEUNG", "LAU", "NG", "HO", "YEUNG")
_GIVEN = ("Sandbox Tester", "Synthetic Resident", "Test Citizen", "Mock Applicant")


@dataclass(frozen=True)
class Ids:
    provider_id: str
    namespace: str
    client_id: str


def ids_for(application_id: str) -> Ids:
    """The sandbox's ids, a function of the approved application alone (so every attempt agrees)."""
    digest = hashlib.sha256(f"onestop-sandbox:{application_id}".encode()).hexdigest()
    return Ids(
        provider_id=f"prv-{digest[:16]}", namespace=f"SBX{digest[16:25].upper()}", client_id=f"sbx-{digest[25:49]}"
    )


def exact_redirect_uri(uri: str) -> str | None:
    """Why ``uri`` cannot be registered (None when it can): an exact https URL, no wildcard, no fragment."""
    parts = urlsplit(uri)
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https URL with a host"
    if "*" in uri or parts.fragment or "#" in uri:
        return "must be exact: no wildcards (*) and no fragment (#)"
    return None


def synthetic_birth_date(group: AgeGroupSpan, today: date) -> date:
    """A birthday that puts a test citizen in the middle of ``group`` today."""
    top = group.max_age if group.max_age is not None else group.min_age + 15
    age = (group.min_age + top) // 2
    return date(today.year - age - 1, 12, 31) if (today.month, today.day) < (12, 31) else date(today.year - age, 1, 1)


def citizen_login(namespace: str, age_group: str) -> str:
    return f"{namespace.lower()}-{age_group}"


def staff_login(namespace: str, number: int) -> str:
    return f"{namespace.lower()}-staff-{number}"


Pause = Callable[[str], Awaitable[None]]


async def _no_pause(_: str) -> None:
    return None


class SandboxProvisioner:
    """Writes a sandbox for an approved application, idempotently."""

    def __init__(
        self,
        database: Database,
        cipher: FieldCipher,
        *,
        clock: Callable[[], datetime] | None = None,
        between_steps: Pause = _no_pause,
    ) -> None:
        self.database = database
        self.cipher = cipher
        self._clock = clock or (lambda: datetime.now(UTC))
        # Called between the writes (after the sandbox row, before the logins), where a crash is most awkward.
        self._between_steps = between_steps

    async def provision(self, request: ProvisionRequest) -> ProvisionResult:
        refused = [f"{uri}: {why}" for uri in request.redirect_uris if (why := exact_redirect_uri(uri))]
        if refused or not request.redirect_uris:
            raise ApplicationError(
                "redirect URIs cannot be registered: " + ("; ".join(refused) or "none given"),
                type="INVALID_REDIRECT_URI",
                non_retryable=True,
            )
        ids = ids_for(request.application_id)
        await self._sandbox(ids, request)
        await self._between_steps("sandbox")
        staff = [staff_login(ids.namespace, n) for n in range(1, len(request.staff) + 1)]
        citizens = [citizen_login(ids.namespace, group.id) for group in request.age_groups]
        today = self._clock().date()
        members: list[tuple[str, str, str | None, dict[str, Any]]] = [
            (login, "staff", None, {"name": person.name, "email": person.email})
            for login, person in zip(staff, request.staff, strict=True)
        ]
        for n, (login, group) in enumerate(zip(citizens, request.age_groups, strict=True)):
            members.append(
                (
                    login,
                    "citizen",
                    group.id,
                    {
                        "nameEn": f"{_SURNAMES[n % len(_SURNAMES)]}, {_GIVEN[n % len(_GIVEN)]}",
                        "dateOfBirth": synthetic_birth_date(group, today).isoformat(),
                        "synthetic": True,
                    },
                )
            )
        for login, kind, group_id, details in members:
            await self._member(ids.provider_id, login, kind, group_id, details)
            if activity.in_activity():
                activity.heartbeat(login)
        return ProvisionResult(ids.provider_id, ids.namespace, ids.client_id, staff, citizens)

    async def _sandbox(self, ids: Ids, request: ProvisionRequest) -> None:
        async with self.database.session() as session:
            if await session.get(SandboxRow, ids.provider_id) is not None:
                return
        secret = secrets.token_urlsafe(32)
        details = {
            "organisation": request.organisation,
            "sector": request.sector,
            "region": request.region,
            "contactName": request.contact_name,
            "contactEmail": request.contact_email,
            "approvedBy": request.approved_by,
            "plannedServices": request.planned_services,
            "clientSecret": secret,
        }
        row = SandboxRow(
            provider_id=ids.provider_id,
            application_id=request.application_id,
            namespace=ids.namespace,
            client_id=ids.client_id,
            client_secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
            redirect_uris=json.dumps(list(request.redirect_uris)),
            details=self.cipher.encrypt_json(details, _aad("sandboxes.details", ids.provider_id)),
            created_at=self._clock(),
        )
        await self._insert_once(row)

    async def _member(
        self, provider_id: str, login: str, kind: str, age_group: str | None, details: dict[str, Any]
    ) -> None:
        async with self.database.session() as session:
            if await session.get(SandboxMemberRow, login) is not None:
                return
        await self._insert_once(
            SandboxMemberRow(
                login=login,
                provider_id=provider_id,
                kind=kind,
                age_group=age_group,
                details=self.cipher.encrypt_json(details, _aad("sandbox_members.details", login)),
                created_at=self._clock(),
            )
        )

    async def _insert_once(self, row: SandboxRow | SandboxMemberRow) -> None:
        try:
            async with self.database.session() as session:
                session.add(row)
        except IntegrityError:
            # A concurrent attempt wrote the same key first: its row stands, and is the same sandbox.
            return


def _aad(column: str, key: str) -> str:
    return f"{column}|{key}"


class SandboxActivities:
    """The worker's sandbox activities."""

    def __init__(self, provisioner: SandboxProvisioner, more: Sequence[Callable[..., Awaitable[object]]] = ()
                 ) -> None:
        self.provisioner = provisioner
        self.more = tuple(more)  # the promotion workflow's

    @activity.defn(name=PROVISION_SANDBOX)
    async def provision_sandbox(self, request: ProvisionRequest) -> ProvisionResult:
        return await self.provisioner.provision(request)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.provision_sandbox, *self.more]


async def sandbox_rows(database: Database, provider_id: str | None = None) -> list[SandboxRow]:
    """Every sandbox (or the one of ``provider_id``)."""
    async with database.session() as session:
        query = select(SandboxRow)
        if provider_id is not None:
            query = query.where(SandboxRow.provider_id == provider_id)
        return list((await session.scalars(query)).all())
