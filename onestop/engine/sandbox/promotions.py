"""Going live: a provider asks that a tested sandbox service join the public catalogue, the platform team decides.

``SandboxPromotions.request`` pins one service of one sandbox catalogue version by its content hash (the files
are copied into the ``sandbox_promotions`` row then, so a later upload changes nothing) and starts
``SandboxPromotionWorkflow``; its activities (``promoting.py``) check it, write it into the live definitions on
approval and record a rejection. Every step is a ``sandbox.promotion`` security event with who (a pseudonymous staff
key), when and the content hash.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import (
    Database,
    SandboxCatalogueVersionRow,
    SandboxPromotionRow,
    SandboxRow,
)
from onestop.engine.errors import EngineError, Forbidden, InvalidInput, NotFound, field_error
from onestop.engine.identity.principal import Principal
from onestop.engine.sandbox.catalogues import SandboxCatalogues
from onestop.engine.sandbox.live import LiveDefinitions, live_files
from onestop.engine.sandbox.promoting import PromotionActivities, PromotionSteps, promotion_row
from onestop.engine.sandbox.roles import PLATFORM_ROLE
from onestop.engine.security.events import EventKind, EventSink
from onestop.workflows.promotion import (
    MAX_REASON,
    PromotionCheck,
    PromotionDecision,
    PromotionRequest,
    PromotionStatus,
    SandboxPromotionWorkflow,
    promotion_workflow_id,
)

_DECIDABLE = frozenset({PromotionStatus.AWAITING_APPROVAL, PromotionStatus.PUBLISHING, PromotionStatus.LIVE})
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
        self.steps = PromotionSteps(database, cipher, catalogues, live)

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
        if existing is not None and existing.status in _DECIDABLE:
            return Promotion.of(existing)
        if self.client is None:
            raise PromotionUnavailable()
        if existing is None or existing.status in {PromotionStatus.CHECKS_FAILED, PromotionStatus.FAILED}:
            files = live_files(
                json.loads(await self._version_files(sandbox.provider_id, chosen.version)),
                service_slug,
                sandbox.namespace,
            )
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
        # Still CHECKING: start its workflow, or join it (a request that died before starting it leaves none).
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
        await self._checked(handle)
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

    async def _checked(self, handle: WorkflowHandle[Any, Any]) -> None:
        """Wait for the workflow to take in its checks' result: the row says AWAITING_APPROVAL a moment before the
        workflow does, and a decision in between would be refused."""
        deadline = asyncio.get_running_loop().time() + _WAIT_FOR_CHECKS_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            try:
                state = await handle.query(SandboxPromotionWorkflow.state)
            except (RPCError, WorkflowQueryFailedError):
                return  # ended, or not answering: the update's refusal says why
            if state.status != PromotionStatus.CHECKING:
                return
            await asyncio.sleep(0.05)

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
        return await promotion_row(self.database, promotion_id)

    # ---- the workflow's side ----

    @property
    def events(self) -> EventSink:
        return self.steps.events

    @events.setter
    def events(self, sink: EventSink) -> None:
        self.steps.events = sink

    async def record_test_run(
        self, application_id: str, provider_id: str, service_slug: str, content_hash: str
    ) -> None:
        await self.steps.record_test_run(application_id, provider_id, service_slug, content_hash)

    async def completed_test_runs(self, provider_id: str, service_slug: str, content_hash: str) -> int:
        return await self.steps.completed_test_runs(provider_id, service_slug, content_hash)

    def activities(self) -> Sequence[Callable[..., Awaitable[object]]]:
        return PromotionActivities(self.steps).all()
