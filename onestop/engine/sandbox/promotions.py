"""Going live: a provider asks that a tested sandbox service join the public catalogue, the platform team decides.

``SandboxPromotions.request`` pins one service of one sandbox catalogue version by its content hash (the files
are copied into the ``sandbox_promotions`` row then, so a later upload changes nothing) and starts
``SandboxPromotionWorkflow``; the activities here check it, write it into the live definitions on approval and
record a rejection. Every step is a ``sandbox.promotion`` security event with who (a pseudonymous staff key), when
and the content hash.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import (
    ApplicationRow,
    Database,
    SandboxCatalogueVersionRow,
    SandboxPromotionRow,
    SandboxRow,
    SandboxTestRunRow,
)
from onestop.engine.errors import EngineError, Forbidden, InvalidInput, NotFound, field_error
from onestop.engine.identity.principal import Principal
from onestop.engine.sandbox.catalogues import SandboxCatalogues
from onestop.engine.sandbox.live import LiveConflict, LiveDefinitions, department_file, live_files
from onestop.engine.sandbox.provisioning import _aad
from onestop.engine.sandbox.roles import PLATFORM_ROLE
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink
from onestop.workflows.contracts import Status
from onestop.workflows.promotion import (
    CHECK_PROMOTION,
    MAX_REASON,
    PUBLISH_PROMOTION,
    REJECT_PROMOTION,
    CheckResult,
    PromotionCheck,
    PromotionDecision,
    PromotionRequest,
    PromotionStatus,
    PublishInput,
    PublishResult,
    RejectInput,
    SandboxPromotionWorkflow,
    promotion_workflow_id,
)

COMPLETED = frozenset(
    {Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED, Status.DELIVERY_FAILED}
)
"""The statuses of a test application that went all the way through (submitted, whatever was decided)."""

_OPEN = frozenset({PromotionStatus.CHECKING, PromotionStatus.AWAITING_APPROVAL, PromotionStatus.PUBLISHING})
_WAIT_FOR_CHECKS_SECONDS = 20.0


@dataclass(frozen=True)
class Promotion:
    promotion_id: str
    provider_id: str
    namespace: str
    service_slug: str
    version: int
    content_hash: str
    status: PromotionStatus
    checks: tuple[PromotionCheck, ...]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    catalogue_version: str | None

    @classmethod
    def of(cls, row: SandboxPromotionRow) -> Promotion:
        return cls(
            row.promotion_id,
            row.provider_id,
            row.namespace,
            row.service_slug,
            row.version,
            row.content_hash,
            PromotionStatus(row.status),
            tuple(PromotionCheck(**check) for check in json.loads(row.checks)),
            row.requested_by,
            row.requested_at,
            row.decided_by,
            row.decided_at,
            row.reason,
            row.catalogue_version,
        )


class PromotionUnavailable(EngineError):
    code = "PROMOTION_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__(None, "this process has no Temporal connection to run promotions")


def _decided(message: str, *field: str) -> InvalidInput:
    return InvalidInput([field_error(list(field), message, "PROMOTION_DECIDED")])


class SandboxPromotions:
    """Requests, decisions and the workflow's activities for promotions to the public catalogue."""

    events: EventSink = NO_EVENTS

    def __init__(
        self,
        database: Database,
        cipher: FieldCipher,
        catalogues: SandboxCatalogues,
        live: LiveDefinitions,
        client: Client | None = None,
        task_queue: str = "",
    ) -> None:
        self.database = database
        self.cipher = cipher
        self.catalogues = catalogues
        self.live = live
        self.client = client
        self.task_queue = task_queue

    # ---- the provider asks ----

    async def request(
        self,
        principal: Principal | None,
        service_slug: str,
        version: int | None = None,
        content_hash: str | None = None,
    ) -> Promotion:
        """Ask that ``service_slug`` of the caller's sandbox, at ``version`` (default: the latest), go live; the
        promotion, once its checks have run. Asking again for the same definition answers the same promotion."""
        sandbox = await self.catalogues.sandbox_for(principal)
        assert principal is not None  # sandbox_for refused nobody
        versions = await self.catalogues.versions(sandbox.provider_id)
        chosen = (
            next((v for v in versions if v.version == version), None)
            if version is not None
            else (versions[-1] if versions else None)
        )
        if chosen is None:
            raise NotFound("sandbox catalogue version", str(version) if version is not None else "latest")
        catalogue = await self.catalogues.catalogue(sandbox.provider_id, chosen.version)
        service = catalogue.service(service_slug) if catalogue is not None else None
        if service is None:
            raise NotFound("sandbox service", service_slug)
        pinned = service.content_hash
        if content_hash is not None and content_hash != pinned:
            raise InvalidInput(
                [
                    field_error(
                        ["contentHash"],
                        f"version {chosen.version} of {service_slug} has content hash {pinned}, not {content_hash}; "
                        "request the version you tested",
                        "CONTENT_HASH_MISMATCH",
                    )
                ]
            )
        promotion_id = promotion_workflow_id(sandbox.provider_id, service_slug, pinned)
        existing = await self._row(promotion_id)
        if existing is not None and existing.status == PromotionStatus.REJECTED:
            raise _decided(
                f"the platform team rejected this definition of {service_slug}: {existing.reason} — "
                "change it, test the new version and ask again",
                "serviceSlug",
            )
        if existing is not None and existing.status in {*_OPEN, PromotionStatus.LIVE}:
            return Promotion.of(existing)
        files = live_files(
            json.loads(await self._version_files(sandbox.provider_id, chosen.version)), service_slug, sandbox.namespace
        )
        if self.client is None:
            raise PromotionUnavailable()
        now = datetime.now(UTC)
        await self._write_request(
            promotion_id, sandbox, service_slug, chosen.version, pinned, files, principal.sub, now
        )
        self.events.record(
            EventKind.SANDBOX_PROMOTION,
            outcome="requested",
            staff=principal.sub,
            provider=sandbox.provider_id,
            service=service_slug,
            promotion=promotion_id,
            version=chosen.version,
            content_hash=pinned,
        )
        await self.client.start_workflow(
            SandboxPromotionWorkflow.run,
            PromotionRequest(
                promotion_id, sandbox.provider_id, sandbox.namespace, service_slug, chosen.version, pinned
            ),
            id=promotion_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return await self._after_checks(promotion_id)

    async def _version_files(self, provider_id: str, version: int) -> str:
        async with self.database.session() as session:
            row = await session.get(SandboxCatalogueVersionRow, (provider_id, version))
        if row is None:
            raise NotFound("sandbox catalogue version", str(version))
        return row.files

    async def _write_request(
        self,
        promotion_id: str,
        sandbox: SandboxRow,
        slug: str,
        version: int,
        pinned: str,
        files: dict[str, str],
        requested_by: str,
        now: datetime,
    ) -> None:
        values = {
            "provider_id": sandbox.provider_id,
            "namespace": sandbox.namespace,
            "service_slug": slug,
            "version": version,
            "content_hash": pinned,
            "status": PromotionStatus.CHECKING.value,
            "files": json.dumps(files, sort_keys=True),
            "checks": "[]",
            "requested_by": requested_by,
            "requested_at": now,
            "decided_by": None,
            "decided_at": None,
            "reason": None,
            "catalogue_version": None,
        }
        try:
            async with self.database.session() as session:
                row = await session.get(SandboxPromotionRow, promotion_id)
                if row is None:
                    session.add(SandboxPromotionRow(promotion_id=promotion_id, **values))
                elif row.status in {PromotionStatus.CHECKS_FAILED, PromotionStatus.FAILED}:
                    # Asked again after failed checks (tested since, say): a new run of the same promotion.
                    for key, value in values.items():
                        setattr(row, key, value)
        except IntegrityError:
            return  # a concurrent request wrote it first: the same promotion

    async def _after_checks(self, promotion_id: str) -> Promotion:
        """The promotion once its checks have run (they take a moment); still CHECKING if they take longer."""
        deadline = asyncio.get_running_loop().time() + _WAIT_FOR_CHECKS_SECONDS
        while True:
            row = await self._row(promotion_id)
            assert row is not None
            if row.status != PromotionStatus.CHECKING or asyncio.get_running_loop().time() > deadline:
                return Promotion.of(row)
            await asyncio.sleep(0.1)

    # ---- the platform team decides ----

    async def approve(self, principal: Principal | None, promotion_id: str) -> Promotion:
        return await self._decide(principal, promotion_id, "approve", "")

    async def reject(self, principal: Principal | None, promotion_id: str, reason: str) -> Promotion:
        if not reason.strip():
            raise InvalidInput([field_error(["reason"], "give the provider a reason they can act on", "REQUIRED")])
        if len(reason) > MAX_REASON:
            raise InvalidInput(
                [field_error(["reason"], f"the reason is longer than {MAX_REASON} characters", "TOO_LONG")]
            )
        return await self._decide(principal, promotion_id, "reject", reason)

    async def _decide(self, principal: Principal | None, promotion_id: str, action: str, reason: str) -> Promotion:
        if principal is None or not principal.has_role(PLATFORM_ROLE):
            raise Forbidden(f"deciding a promotion to the public catalogue needs the '{PLATFORM_ROLE}' staff role")
        row = await self._row(promotion_id)
        if row is None:
            raise NotFound("promotion", promotion_id)
        same = PromotionStatus.REJECTED if action == "reject" else PromotionStatus.LIVE
        if row.status in {same, *({PromotionStatus.PUBLISHING} if action == "approve" else set())}:
            return Promotion.of(row)  # decided so already: deciding again changes nothing
        if self.client is None:
            raise PromotionUnavailable()
        handle = self.client.get_workflow_handle(promotion_id)
        method = SandboxPromotionWorkflow.approve if action == "approve" else SandboxPromotionWorkflow.reject
        try:
            # One update id per kind of decision: two platform officers approving at once get the one outcome.
            await handle.execute_update(method, PromotionDecision(principal.sub, reason), id=action)
        except WorkflowUpdateFailedError as exc:
            row = await self._row(promotion_id)
            assert row is not None
            if row.status == same or (action == "approve" and row.status == PromotionStatus.PUBLISHING):
                return Promotion.of(row)
            cause = exc.cause
            raise _decided(str(getattr(cause, "message", cause)), "promotionId") from exc
        except RPCError as exc:
            # The workflow has ended (checks failed, or decided): what it recorded is the answer.
            row = await self._row(promotion_id)
            assert row is not None
            if row.status == same:
                return Promotion.of(row)
            raise _decided(f"the promotion is {row.status}; it awaits no decision", "promotionId") from exc
        row = await self._row(promotion_id)
        assert row is not None
        return Promotion.of(row)

    # ---- reading ----

    async def get(self, principal: Principal | None, promotion_id: str) -> Promotion:
        row = await self._row(promotion_id)
        if row is None or not await self._may_read(principal, row.provider_id):
            raise NotFound("promotion", promotion_id)
        return Promotion.of(row)

    async def list(
        self, principal: Principal | None, *, status: PromotionStatus | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Promotion], int]:
        """The platform team sees every promotion, a provider's staff their own sandbox's; newest first."""
        query = select(SandboxPromotionRow)
        if principal is None or not principal.has_role(PLATFORM_ROLE):
            sandbox = await self.catalogues.sandbox_for(principal)
            query = query.where(SandboxPromotionRow.provider_id == sandbox.provider_id)
        if status is not None:
            query = query.where(SandboxPromotionRow.status == status.value)
        async with self.database.session() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (
                await session.scalars(
                    query.order_by(SandboxPromotionRow.requested_at.desc(), SandboxPromotionRow.promotion_id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return [Promotion.of(row) for row in rows], int(total or 0)

    async def _may_read(self, principal: Principal | None, provider_id: str) -> bool:
        if principal is not None and principal.has_role(PLATFORM_ROLE):
            return True
        try:
            sandbox = await self.catalogues.sandbox_for(principal)
        except Forbidden:
            return False
        return sandbox.provider_id == provider_id

    async def _row(self, promotion_id: str) -> SandboxPromotionRow | None:
        async with self.database.session() as session:
            return await session.get(SandboxPromotionRow, promotion_id)

    # ---- test runs ----

    async def record_test_run(
        self, application_id: str, provider_id: str, service_slug: str, content_hash: str
    ) -> None:
        """Remember which definition a sandbox application ran: a promotion needs one of its hash completed."""
        try:
            async with self.database.session() as session:
                if await session.get(SandboxTestRunRow, application_id) is None:
                    session.add(
                        SandboxTestRunRow(
                            application_id=application_id,
                            provider_id=provider_id,
                            service_slug=service_slug,
                            content_hash=content_hash,
                            created_at=datetime.now(UTC),
                        )
                    )
        except IntegrityError:
            return

    async def completed_test_runs(self, provider_id: str, service_slug: str, content_hash: str) -> int:
        async with self.database.session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(SandboxTestRunRow)
                .join(ApplicationRow, ApplicationRow.application_id == SandboxTestRunRow.application_id)
                .where(
                    SandboxTestRunRow.provider_id == provider_id,
                    SandboxTestRunRow.service_slug == service_slug,
                    SandboxTestRunRow.content_hash == content_hash,
                    ApplicationRow.status.in_([s.value for s in COMPLETED]),
                )
            )
        return int(count or 0)

    # ---- the workflow's activities ----

    async def check(self, request: PromotionRequest) -> CheckResult:
        row = await self._row(request.promotion_id)
        if row is None:
            raise ApplicationError(f"no promotion {request.promotion_id}", non_retryable=True)
        files: dict[str, str] = json.loads(row.files)
        checks = [await self._validated(request), await self._tested(request), await self._fits_live(request, files)]
        result = CheckResult(checks)
        status = PromotionStatus.AWAITING_APPROVAL if result.passed else PromotionStatus.CHECKS_FAILED
        if await self._move(
            request.promotion_id,
            {PromotionStatus.CHECKING},
            status=status.value,
            checks=json.dumps([check.__dict__ for check in checks]),
        ):
            self.events.record(
                EventKind.SANDBOX_PROMOTION,
                outcome="checked" if result.passed else "checks_failed",
                provider=request.provider_id,
                service=request.service_slug,
                promotion=request.promotion_id,
                content_hash=request.content_hash,
                failed=[c.name for c in checks if not c.passed] or None,
            )
        return result

    async def _validated(self, request: PromotionRequest) -> PromotionCheck:
        catalogue = await self.catalogues.catalogue(request.provider_id, request.version)
        service = catalogue.service(request.service_slug) if catalogue is not None else None
        if service is None:
            return PromotionCheck(
                "validated",
                False,
                f"version {request.version} of the sandbox catalogue has no service {request.service_slug}",
            )
        if service.content_hash != request.content_hash:
            return PromotionCheck(
                "validated",
                False,
                f"version {request.version} now hashes as "
                f"{service.content_hash}, not the {request.content_hash} requested",
            )
        return PromotionCheck(
            "validated", True, f"version {request.version} validates; content hash {request.content_hash}"
        )

    async def _tested(self, request: PromotionRequest) -> PromotionCheck:
        count = await self.completed_test_runs(request.provider_id, request.service_slug, request.content_hash)
        if count == 0:
            return PromotionCheck(
                "tested",
                False,
                "no test citizen has completed an application of this exact "
                "definition in the sandbox; run it end to end with startSandboxApplication first",
            )
        return PromotionCheck("tested", True, f"{count} test application(s) of this definition completed")

    async def _fits_live(self, request: PromotionRequest, files: dict[str, str]) -> PromotionCheck:
        if not files:
            return PromotionCheck("fits-live", False, f"no file of the version defines {request.service_slug}")
        taken = self.live.store.catalogue.service(request.service_slug)
        if taken is not None and taken.department != request.namespace:
            return PromotionCheck(
                "fits-live",
                False,
                f"the public catalogue already has a service "
                f"{request.service_slug} (department {taken.department}); choose another id",
            )
        clashes = self.live.clashes(files, request.namespace)
        if clashes:
            return PromotionCheck(
                "fits-live",
                False,
                f"the live definitions already have other files named "
                f"{', '.join(clashes)}; rename them in your sandbox",
            )
        organisation = await self._organisation(request.provider_id)
        department, text = department_file(request.namespace, organisation)
        trial = await self.live.trial(
            {department: text, **files} if not (self.live.root / department).exists() else files, request.service_slug
        )
        if trial.problems:
            shown = "; ".join(f"{p.path}:{p.line}:{p.col}: {p.message}" for p in trial.problems[:3])
            return PromotionCheck("fits-live", False, f"the live catalogue would not load with it: {shown}")
        if trial.content_hash != request.content_hash:
            return PromotionCheck(
                "fits-live",
                False,
                "in the live catalogue the service would hash as "
                f"{trial.content_hash}, not as tested (an option list or fragment differs there)",
            )
        return PromotionCheck("fits-live", True, "the live catalogue loads with it, and it hashes as tested")

    async def _organisation(self, provider_id: str) -> str:
        async with self.database.session() as session:
            sandbox = await session.get(SandboxRow, provider_id)
        if sandbox is None:
            return ""
        details = self.cipher.decrypt_json(sandbox.details, _aad("sandboxes.details", provider_id))
        return str(details.get("organisation", ""))

    async def publish(self, publish: PublishInput) -> PublishResult:
        row = await self._row(publish.promotion_id)
        if row is None:
            raise ApplicationError(f"no promotion {publish.promotion_id}", non_retryable=True)
        if row.status == PromotionStatus.LIVE and row.catalogue_version:
            return PublishResult(row.catalogue_version)
        if await self._move(
            row.promotion_id,
            {PromotionStatus.AWAITING_APPROVAL},
            status=PromotionStatus.PUBLISHING.value,
            decided_by=publish.approved_by,
            decided_at=datetime.now(UTC),
        ):
            self.events.record(
                EventKind.SANDBOX_PROMOTION,
                outcome="approved",
                staff=publish.approved_by,
                provider=row.provider_id,
                service=row.service_slug,
                promotion=row.promotion_id,
                content_hash=row.content_hash,
            )
        files: dict[str, str] = json.loads(row.files)
        department, text = department_file(row.namespace, await self._organisation(row.provider_id))
        if not (self.live.root / department).exists():
            files = {department: text, **files}
        try:
            version = await self.live.publish(files, row.service_slug, row.content_hash)
        except LiveConflict as conflict:
            await self._move(
                row.promotion_id,
                {PromotionStatus.PUBLISHING},
                status=PromotionStatus.FAILED.value,
                reason=str(conflict),
            )
            self.events.record(
                EventKind.SANDBOX_PROMOTION,
                outcome="failed",
                staff=publish.approved_by,
                provider=row.provider_id,
                service=row.service_slug,
                promotion=row.promotion_id,
                content_hash=row.content_hash,
            )
            raise ApplicationError(str(conflict), non_retryable=True) from conflict
        if await self._move(
            row.promotion_id, {PromotionStatus.PUBLISHING}, status=PromotionStatus.LIVE.value, catalogue_version=version
        ):
            self.events.record(
                EventKind.SANDBOX_PROMOTION,
                outcome="live",
                staff=publish.approved_by,
                provider=row.provider_id,
                service=row.service_slug,
                promotion=row.promotion_id,
                content_hash=row.content_hash,
                catalogue_version=version,
            )
        return PublishResult(version)

    async def record_rejection(self, rejected: RejectInput) -> None:
        row = await self._row(rejected.promotion_id)
        if row is None:
            raise ApplicationError(f"no promotion {rejected.promotion_id}", non_retryable=True)
        if await self._move(
            row.promotion_id,
            {PromotionStatus.AWAITING_APPROVAL},
            status=PromotionStatus.REJECTED.value,
            decided_by=rejected.rejected_by,
            decided_at=datetime.now(UTC),
            reason=rejected.reason,
        ):
            self.events.record(
                EventKind.SANDBOX_PROMOTION,
                outcome="rejected",
                staff=rejected.rejected_by,
                provider=row.provider_id,
                service=row.service_slug,
                promotion=row.promotion_id,
                content_hash=row.content_hash,
            )

    async def _move(self, promotion_id: str, before: set[PromotionStatus], **values: object) -> bool:
        """Change the row only from one of the ``before`` statuses; True when this call moved it (so each step is
        recorded once, however often an activity is retried)."""
        async with self.database.session() as session:
            result = await session.execute(
                update(SandboxPromotionRow)
                .where(
                    SandboxPromotionRow.promotion_id == promotion_id,
                    SandboxPromotionRow.status.in_([s.value for s in before]),
                )
                .values(**values)
            )
        return bool(getattr(result, "rowcount", 0))

    def activities(self) -> Sequence[Callable[..., Awaitable[object]]]:
        return PromotionActivities(self).all()


class PromotionActivities:
    """The promotion workflow's activities."""

    def __init__(self, promotions: SandboxPromotions) -> None:
        self.promotions = promotions

    @activity.defn(name=CHECK_PROMOTION)
    async def check_promotion(self, request: PromotionRequest) -> CheckResult:
        return await self.promotions.check(request)

    @activity.defn(name=PUBLISH_PROMOTION)
    async def publish_promotion(self, publish: PublishInput) -> PublishResult:
        return await self.promotions.publish(publish)

    @activity.defn(name=REJECT_PROMOTION)
    async def reject_promotion(self, rejected: RejectInput) -> None:
        await self.promotions.record_rejection(rejected)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.check_promotion, self.publish_promotion, self.reject_promotion]
