"""The promotion workflow's side: its activities (check, publish, record a rejection) and the sandbox test runs the
``tested`` check reads. Each moves the ``sandbox_promotions`` row only from the status it expects, so a retried
activity records its step (and its security event) once."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import ApplicationRow, Database, SandboxPromotionRow, SandboxRow, SandboxTestRunRow
from onestop.engine.sandbox.catalogues import SandboxCatalogues
from onestop.engine.sandbox.live import LiveConflict, LiveDefinitions, department_file
from onestop.engine.sandbox.provisioning import _aad
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink
from onestop.workflows.contracts import Status
from onestop.workflows.promotion import (
    CHECK_PROMOTION,
    PUBLISH_PROMOTION,
    REJECT_PROMOTION,
    CheckResult,
    PromotionCheck,
    PromotionRequest,
    PromotionStatus,
    PublishInput,
    PublishResult,
    RejectInput,
)

COMPLETED = frozenset(
    {Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED, Status.DELIVERY_FAILED}
)
"""The statuses of a test application that went all the way through (submitted, whatever was decided)."""


async def promotion_row(database: Database, promotion_id: str) -> SandboxPromotionRow | None:
    async with database.session() as session:
        return await session.get(SandboxPromotionRow, promotion_id)


class PromotionSteps:
    """What the promotion workflow's activities do."""

    events: EventSink = NO_EVENTS

    def __init__(
        self, database: Database, cipher: FieldCipher, catalogues: SandboxCatalogues, live: LiveDefinitions
    ) -> None:
        self.database = database
        self.cipher = cipher
        self.catalogues = catalogues
        self.live = live

    async def _row(self, promotion_id: str) -> SandboxPromotionRow | None:
        return await promotion_row(self.database, promotion_id)

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
            await self.live.announce_reload()  # a retry after dying before the announcement
            return PublishResult(row.catalogue_version)
        if await self._move(
            row.promotion_id,
            {PromotionStatus.AWAITING_APPROVAL},
            status=PromotionStatus.PUBLISHING.value,
            decided_by=publish.approved_by,
            decided_at=datetime.now(UTC),
        ):
            self._record(row, "approved", publish.approved_by)
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
            self._record(row, "failed", publish.approved_by)
            raise ApplicationError(str(conflict), non_retryable=True) from conflict
        if await self._move(
            row.promotion_id, {PromotionStatus.PUBLISHING}, status=PromotionStatus.LIVE.value, catalogue_version=version
        ):
            self._record(row, "live", publish.approved_by, catalogue_version=version)
        await self.live.announce_reload()
        return PublishResult(version)

    async def materialize(self) -> int:
        """Write every live promotion's files (and its provider's department) into this process's tree, oldest
        decision first; the number of files written (0 where the tree is shared and already has them). A service
        whose latest decision is still publishing is left to that publish."""
        return await self.live.materialize(self._live_files)

    async def _live_files(self) -> list[tuple[str, str]]:
        current = (PromotionStatus.LIVE.value, PromotionStatus.PUBLISHING.value)
        async with self.database.session() as session:
            rows = (
                await session.scalars(
                    select(SandboxPromotionRow)
                    .where(SandboxPromotionRow.status.in_(current))
                    .order_by(SandboxPromotionRow.decided_at, SandboxPromotionRow.promotion_id)
                )
            ).all()
        latest = {(row.namespace, row.service_slug): row.status for row in rows}
        files: list[tuple[str, str]] = []
        for row in rows:
            if row.status != PromotionStatus.LIVE.value or latest[(row.namespace, row.service_slug)] != row.status:
                continue
            department, text = department_file(row.namespace, await self._organisation(row.provider_id))
            if not (self.live.root / department).exists():
                files.append((department, text))
            files += sorted(json.loads(row.files).items())
        return files

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
            self._record(row, "rejected", rejected.rejected_by)

    def _record(self, row: SandboxPromotionRow, outcome: str, staff: str, *, catalogue_version: str | None = None
                ) -> None:
        """The promotion's security event: who, and the promotion's provider, service and content hash."""
        self.events.record(
            EventKind.SANDBOX_PROMOTION,
            outcome=outcome,
            staff=staff,
            provider=row.provider_id,
            service=row.service_slug,
            promotion=row.promotion_id,
            content_hash=row.content_hash,
            catalogue_version=catalogue_version,
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


class PromotionActivities:
    """The promotion workflow's activities."""

    def __init__(self, promotions: PromotionSteps) -> None:
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
