"""The workflow's side effects: prefill through the consent gateway, references, delivery, the index."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

if TYPE_CHECKING:
    from onestop.engine.container import Engine

from onestop.engine.applications import delivery
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.consent import Consent
from onestop.engine.data.gateway import DataGateway, FetchResult
from onestop.engine.db import ApplicationRow, Database
from onestop.engine.errors import EngineError
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink
from onestop.workflows.contracts import (
    Activity,
    DeliveryReceipt,
    IndexEntry,
    PrefillItem,
    PrefillRequest,
    PrefillResult,
    ReferenceRequest,
    Submission,
)

Prefill = Callable[[PrefillRequest], Awaitable[PrefillResult]]
"""Creates a consent artefact for exactly the listed items and fetches them through the gateway."""


@dataclass
class ApplicationActivities:
    database: Database
    signer: Signer
    prefill_port: Prefill
    http: httpx.AsyncClient
    http_delivery: bool = True
    events: EventSink = NO_EVENTS

    @activity.defn(name=Activity.PREFILL)
    async def prefill(self, request: PrefillRequest) -> PrefillResult:
        return await self.prefill_port(request)

    @activity.defn(name=Activity.ALLOCATE_REFERENCE)
    async def allocate_reference(self, request: ReferenceRequest) -> str:
        reference = await delivery.allocate_reference(self.database, request.application_id, request.department,
                                                      request.year)
        if request.index is not None:
            await record(self.database, replace(request.index, reference_number=reference))
        return reference

    @activity.defn(name=Activity.DELIVER)
    async def deliver_submission(self, submission: Submission) -> DeliveryReceipt:
        signed = self.signer.sign_submission(
            application_id=submission.application_id, service_slug=submission.service_id,
            service_hash=submission.content_hash, department=submission.department,
            citizen_ref=submission.citizen_ref, answers=submission.answers,
            consents=[c for c in submission.consents.values() if c not in ("granted", "declined")],
            assurance=submission.assurance, auth_time=None, submitted_at=submission.submitted_at,
            reference_number=submission.reference_number,
        )
        # The SQL inbox always receives it (the embedded default); an HTTP endpoint too when delivery over
        # HTTP is enabled (production). Both are keyed on the application id, so retries never duplicate.
        fresh = await delivery.deliver_to_inbox(
            self.database, application_id=submission.application_id, department=submission.department,
            reference_number=submission.reference_number, service_id=submission.service_id,
            citizen_ref=submission.citizen_ref, jws=signed.jws,
        )
        channel = "inbox"
        if submission.endpoint and self.http_delivery:
            try:
                fresh = await delivery.deliver_http(self.http, submission.endpoint,
                                                    application_id=submission.application_id, jws=signed.jws)
            except (delivery.DeliveryFailed, httpx.HTTPError) as exc:
                self.events.record(EventKind.DELIVERY_FAILED, service=submission.service_id,
                                   department=submission.department, reason=type(exc).__name__)
                if not isinstance(exc, delivery.DeliveryFailed):
                    raise  # transient: the activity retries
                raise ApplicationError(exc.message, type=exc.code, non_retryable=True) from exc
            channel = "http"
        return DeliveryReceipt(submission.application_id, channel, duplicate=not fresh)

    @activity.defn(name=Activity.INDEX)
    async def index_application(self, entry: IndexEntry) -> None:
        await record(self.database, entry)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.prefill, self.allocate_reference, self.deliver_submission, self.index_application]


async def record(db: Database, entry: IndexEntry) -> None:
    """Upsert the index row; an older update never overwrites a newer one (safe under concurrent writers)."""
    for _ in range(2):
        try:
            async with db.session() as session:
                row = await session.get(ApplicationRow, entry.application_id)
                if row is None:
                    session.add(ApplicationRow(
                        application_id=entry.application_id, citizen_ref=entry.citizen_ref,
                        service_id=entry.service_id, department=entry.department, status=entry.status,
                        reference_number=entry.reference_number, created_at=entry.created_at,
                        updated_at=entry.updated_at,
                    ))
                elif entry.updated_at >= row.updated_at:
                    row.status = entry.status
                    row.reference_number = entry.reference_number or row.reference_number
                    row.updated_at = entry.updated_at
            return
        except IntegrityError:
            continue  # another writer inserted the row first; update it on the next pass


def gateway_prefill(gateway: DataGateway, catalogue: CatalogueStore) -> Prefill:
    """The prefill port over the consent gateway: one consent artefact for exactly the step's items."""

    async def prefill(request: PrefillRequest) -> PrefillResult:
        level = catalogue.catalogue.assurance_level(request.assurance)
        try:
            consent, result = await _gateway_prefill(gateway, request, level.acr if level else request.assurance)
        except EngineError as exc:
            # A refusal (no such citizen, consent revoked, provider said no) does not improve with retries.
            raise ApplicationError(exc.message, type=exc.code, non_retryable=not _transient(exc)) from exc
        items = [PrefillItem(ref, _jsonable(fetched.value), fetched.source_department)
                 for ref, fetched in result.items.items()]
        return PrefillResult(consent_id=consent.id, items=items)

    return prefill


def _transient(exc: EngineError) -> bool:
    return exc.code in ("PROVIDER_UNAVAILABLE", "RATE_LIMITED")


async def _gateway_prefill(gateway: DataGateway, request: PrefillRequest, acr: str) -> tuple[Consent, FetchResult]:
    return await gateway.prefill(
        request.citizen_ref, application_id=request.application_id, step_id=request.step_id,
        service_slug=request.service_id, service_hash=request.content_hash, department=request.department,
        items=request.items, purpose=request.purpose, acr=acr,
        lawful_basis=request.lawful_basis, mode="standing" if request.mode == "standing" else "one-off",
        valid_for=timedelta(seconds=request.valid_for_seconds) if request.valid_for_seconds else None,
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def activities_for(engine: Engine, http: httpx.AsyncClient) -> ApplicationActivities:
    """The worker's activities over the engine's services."""
    return ApplicationActivities(database=engine.database, signer=engine.data.signer,
                                 prefill_port=gateway_prefill(engine.data.gateway, engine.catalogue), http=http,
                                 http_delivery=not engine.settings.development, events=engine.security.events)
