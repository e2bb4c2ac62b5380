"""The sandbox programme's engine service: provisioning on approval, and the sandboxes' clients and logins."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy

from onestop.catalogue import Catalogue
from onestop.engine.applications.service import ApplicationService
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import ApplicationRow, Database, SandboxMemberRow, SandboxRow
from onestop.engine.errors import EngineError, Forbidden, InvalidInput, NotFound, field_error
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.provider import RegisteredClient, SandboxLogin
from onestop.engine.sandbox.catalogues import SandboxCatalogues
from onestop.engine.sandbox.promotions import SandboxPromotions
from onestop.engine.sandbox.provisioning import STAFF_ROLES, SandboxActivities, SandboxProvisioner, _aad
from onestop.engine.sandbox.roles import JOIN_SERVICE, PLATFORM_ROLE
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.contracts import ApplicationView, Status
from onestop.workflows.interpreter import Applicant
from onestop.workflows.sandbox import (
    AgeGroupSpan,
    ProvisionRequest,
    ProvisionResult,
    SandboxProvisioningWorkflow,
    SandboxStaffRequest,
    provisioning_workflow_id,
)


class ProvisioningFailed(EngineError):
    code = "PROVISIONING_FAILED"


@dataclass(frozen=True)
class Sandbox:
    """A provisioned sandbox as its provider's staff and the platform team see it."""

    provider_id: str
    application_id: str
    namespace: str
    organisation: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    staff: tuple[SandboxLogin, ...]
    citizens: tuple[SandboxLogin, ...]


def provision_request(view: ApplicationView, age_groups: Sequence[AgeGroupSpan], approved_by: str) -> ProvisionRequest:
    """What an approved application to join asks to be provisioned, from its answers."""
    answers: dict[str, Any] = view.answers
    return ProvisionRequest(
        application_id=view.application_id,
        organisation=str(answers.get("organisationName", "")),
        sector=str(answers.get("sector", "")),
        region=str(answers.get("region", "")),
        contact_name=str(answers.get("contactName", "")),
        contact_email=str(answers.get("contactEmail", "")),
        redirect_uris=[str(entry.get("uri", "")) for entry in answers.get("redirectUris") or []],
        staff=[
            SandboxStaffRequest(str(entry.get("staffName", "")), str(entry.get("staffEmail", "")))
            for entry in answers.get("staffAccounts") or []
        ],
        age_groups=list(age_groups),
        approved_by=approved_by,
        planned_services=[str(entry.get("serviceName", "")) for entry in answers.get("plannedServices") or []],
    )


def age_group_spans(catalogue: Catalogue) -> list[AgeGroupSpan]:
    """The taxonomy's age groups: one synthetic test citizen is made for each."""
    return [AgeGroupSpan(g.id, g.min_age, g.max_age) for g in catalogue.taxonomy.age_groups]


def _age(born: date) -> int:
    today = datetime.now(UTC).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class SandboxService:
    """Provisions sandboxes (through Temporal, once per approved application) and answers for them."""

    def __init__(
        self,
        database: Database,
        cipher: FieldCipher,
        age_groups: Callable[[], Sequence[AgeGroupSpan]],
        client: Client | None = None,
        task_queue: str = "",
        catalogues: SandboxCatalogues | None = None,
        applications_per_day: int = 200,
    ) -> None:
        self.database = database
        # The sandboxes' own catalogues (uploads and versions); None where nothing is authored (tools, tests).
        self.catalogues = catalogues
        self.cipher = cipher
        self.client = client
        self.task_queue = task_queue
        self._age_groups = age_groups
        self.provisioner = SandboxProvisioner(database, cipher)
        # Set by the composition root when the process runs applications.
        self.applications: ApplicationService | None = None
        self.applications_per_day = applications_per_day
        # Going live (set by the composition root, with the live catalogue it writes into).
        self.promotions: SandboxPromotions | None = None

    def activities(self) -> SandboxActivities:
        return SandboxActivities(self.provisioner, self.promotions.activities() if self.promotions else ())

    async def after_decision(self, principal: Principal, view: ApplicationView) -> None:
        """The application service's hook: an approved application to join provisions its sandbox."""
        if view.service_id == JOIN_SERVICE and view.status == Status.APPROVED:
            await self.provision(principal, view)

    async def provision(self, principal: Principal, view: ApplicationView) -> ProvisionResult:
        """Provision the sandbox an approved application to join asks for; again is a no-op (one sandbox)."""
        if not principal.has_role(PLATFORM_ROLE):
            raise Forbidden(f"provisioning a sandbox needs the '{PLATFORM_ROLE}' staff role")
        if view.service_id != JOIN_SERVICE or view.status != Status.APPROVED:
            raise Forbidden("only an approved application to join the sandbox programme provisions a sandbox")
        if self.client is None:
            raise ProvisioningFailed(None, "this process has no Temporal connection to provision sandboxes")
        request = provision_request(view, self._age_groups(), principal.sub)
        # One workflow id per application: a second approval (or a retried call) joins the running or finished
        # provisioning instead of starting another.
        handle = await self.client.start_workflow(
            SandboxProvisioningWorkflow.run,
            request,
            id=provisioning_workflow_id(view.application_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            cause = exc.cause
            raise ProvisioningFailed(None, f"provisioning failed: {getattr(cause, 'message', cause)}") from exc

    # ---- applications of sandbox services ----

    async def start_application(
        self, principal: Principal, citizen_ref: str, service_slug: str, client_mutation_id: str | None = None
    ) -> ApplicationView:
        """A sandbox's test citizen starts one of its services. The application runs like any other, tagged with
        the sandbox's namespace as its department, so it reaches that sandbox's inbox and no other."""
        namespace, login = principal.claims.get("sandbox"), principal.claims.get("sandbox_login")
        if not principal.is_citizen or not isinstance(namespace, str) or not isinstance(login, str):
            raise Forbidden("sandbox services are started by the sandbox's test citizens only")
        if self.applications is None or self.catalogues is None:
            raise ProvisioningFailed(None, "this process runs no applications")
        async with self.database.session() as session:
            sandbox = (await session.scalars(select(SandboxRow).where(SandboxRow.namespace == namespace))).first()
            started = await session.scalar(
                select(func.count())
                .select_from(ApplicationRow)
                .where(
                    ApplicationRow.department == namespace,
                    ApplicationRow.created_at >= datetime.now(UTC) - timedelta(days=1),
                )
            )
        if sandbox is None:
            raise NotFound("sandbox service", service_slug)
        catalogue = await self.catalogues.catalogue(sandbox.provider_id)
        service = catalogue.service(service_slug) if catalogue is not None else None
        if catalogue is None or service is None:
            raise NotFound("sandbox service", service_slug)
        if int(started or 0) >= self.applications_per_day:
            raise InvalidInput(
                [
                    field_error(
                        ["input", "serviceSlug"],
                        f"this sandbox's test citizens started "
                        f"{started} applications in the last 24 hours, the most it allows "
                        f"({self.applications_per_day}); try again later",
                        "SANDBOX_LIMIT",
                    )
                ]
            )
        snapshot = snapshot_from_service(service, assurance_levels=list(catalogue.assurance.ids))
        member = await self.sandbox_login(login)
        age = _age(member.date_of_birth) if member is not None and member.date_of_birth is not None else None
        applicant = Applicant(
            age=age,
            age_group=catalogue.age_group_for(age).id if age is not None else None,
            assurance=self.applications.level_of(principal),
        )
        # The shared application service over this one pinned snapshot: the same workflow and inbox machinery.
        pinned = ApplicationService(
            self.applications.client,
            self.applications.task_queue,
            self.database,
            {service_slug: snapshot}.get,
            self.applications.ladder,
            store=self.applications.store,
        )
        pinned.events, pinned.alerts = self.applications.events, self.applications.alerts
        view = await pinned.start(citizen_ref, applicant, service_slug, client_mutation_id, principal=principal)
        if self.promotions is not None:
            await self.promotions.record_test_run(view.application_id, sandbox.provider_id, service_slug,
                                                  snapshot.content_hash)
        return view

    # ---- reading ----

    async def sandboxes(self) -> list[Sandbox]:
        async with self.database.session() as session:
            rows = list((await session.scalars(select(SandboxRow).order_by(SandboxRow.created_at))).all())
        return [await self._sandbox(row) for row in rows]

    async def sandbox_of(self, application_id: str) -> Sandbox | None:
        async with self.database.session() as session:
            row = (await session.scalars(select(SandboxRow).where(SandboxRow.application_id == application_id))).first()
        return await self._sandbox(row) if row is not None else None

    async def _sandbox(self, row: SandboxRow) -> Sandbox:
        details = self.cipher.decrypt_json(row.details, _aad("sandboxes.details", row.provider_id))
        async with self.database.session() as session:
            members = list(
                (
                    await session.scalars(
                        select(SandboxMemberRow)
                        .where(SandboxMemberRow.provider_id == row.provider_id)
                        .order_by(SandboxMemberRow.login)
                    )
                ).all()
            )
        logins = [self._login(member, row.namespace) for member in members]
        return Sandbox(
            row.provider_id,
            row.application_id,
            row.namespace,
            str(details["organisation"]),
            row.client_id,
            str(details["clientSecret"]),
            tuple(json.loads(row.redirect_uris)),
            tuple(m for m in logins if m.kind == "staff"),
            tuple(m for m in logins if m.kind == "citizen"),
        )

    def _login(self, member: SandboxMemberRow, namespace: str) -> SandboxLogin:
        details = self.cipher.decrypt_json(member.details, _aad("sandbox_members.details", member.login))
        born = details.get("dateOfBirth")
        return SandboxLogin(
            login=member.login,
            kind=member.kind,
            name=str(details.get("name") or details.get("nameEn")),
            department=namespace,
            roles=STAFF_ROLES if member.kind == "staff" else (),
            date_of_birth=date.fromisoformat(born) if isinstance(born, str) else None,
            created_at=member.created_at,
        )

    async def rotate_client_secret(self, principal: Principal | None) -> tuple[str, str]:
        """A new client secret for the caller's sandbox (its provider's staff only): the client id and the secret,
        which is returned this once. The old secret stops working at once."""
        if self.catalogues is None:
            raise ProvisioningFailed(None, "this process serves no sandboxes")
        found = await self.catalogues.sandbox_for(principal)
        secret = secrets.token_urlsafe(32)
        aad = _aad("sandboxes.details", found.provider_id)
        async with self.database.session() as session:
            row = await session.get(SandboxRow, found.provider_id, with_for_update=True)
            if row is None:
                raise NotFound("sandbox", found.provider_id)
            details = self.cipher.decrypt_json(row.details, aad)
            row.details = self.cipher.encrypt_json({**details, "clientSecret": secret}, aad)
            row.client_secret_hash = hashlib.sha256(secret.encode()).hexdigest()
        return found.client_id, secret

    # ---- the identity provider's directory ----

    async def registered_client(self, client_id: str) -> RegisteredClient | None:
        async with self.database.session() as session:
            row = (await session.scalars(select(SandboxRow).where(SandboxRow.client_id == client_id))).first()
        if row is None:
            return None
        return RegisteredClient(row.client_id, tuple(json.loads(row.redirect_uris)), row.client_secret_hash)

    async def sandbox_login(self, login: str) -> SandboxLogin | None:
        async with self.database.session() as session:
            member = await session.get(SandboxMemberRow, login)
            sandbox = await session.get(SandboxRow, member.provider_id) if member is not None else None
        if member is None or sandbox is None:
            return None
        return self._login(member, sandbox.namespace)
