"""The workflow's side effects: prefill through the consent gateway, references, delivery, the index."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

if TYPE_CHECKING:
    from onestop.engine.container import Engine

from onestop.catalogue.predicates import predicate_ref
from onestop.engine import metrics
from onestop.engine.applications import delivery, index
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.consent import Consent, ConsentService
from onestop.engine.data.gateway import DataGateway, FetchResult
from onestop.engine.db import Database
from onestop.engine.db.prepared import Executor
from onestop.engine.documents.schedules import DocumentActivities
from onestop.engine.documents.service import DocumentService
from onestop.engine.errors import EngineError
from onestop.engine.notices import NoticeService, Outbox, Recipient
from onestop.engine.payments import PaymentActivities
from onestop.engine.relationships import Relationships
from onestop.engine.relationships.parties import parties_of
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink
from onestop.workflows.contracts import (
    Activity,
    Changes,
    ConsentGrantRequest,
    ConsentGrantResult,
    DeliveryReceipt,
    IndexEntry,
    NoticeRequest,
    NoticeResult,
    PrefillItem,
    PrefillRequest,
    PrefillResult,
    ReferenceRequest,
    Submission,
)

Prefill = Callable[[PrefillRequest], Awaitable[PrefillResult]]
"""Creates a consent artefact for exactly the listed items and fetches them through the gateway."""
GrantConsent = Callable[[ConsentGrantRequest, str], Awaitable[ConsentGrantResult]]
"""Records a structured consent step's grant: one consent artefact per department; the second argument names
this logical grant (the same on every retry)."""


@dataclass
class ApplicationActivities:
    database: Database
    signer: Signer
    prefill_port: Prefill
    http: delivery.DeliveryClient  # the departments' HTTP endpoints (used when ``http_delivery``)
    cipher: FieldCipher  # the data key's cipher: the inbox copy of a submission is personal data at rest
    http_delivery: bool = True
    consent_port: GrantConsent | None = None
    events: EventSink = NO_EVENTS
    documents: DocumentService | None = None
    notices: NoticeService | None = None
    # The fee activities (a payment step's hosted page, receipt, refund); None where no payments are wired.
    payments: PaymentActivities | None = None
    # An application's parties, kept once read (``Relationships.parties``); None: read them each time.
    relationships: Relationships | None = None

    @activity.defn(name=Activity.PREFILL)
    async def prefill(self, request: PrefillRequest) -> PrefillResult:
        if not request.fetch_id:
            # Run and activity id are the same on every attempt of this activity and differ for the next prefill
            # (a new grant after going back is a new fetch), which is what the idempotency keys need.
            info = activity.info()
            request = replace(request, fetch_id=f"{info.workflow_run_id}/{info.activity_id}")
        if activity.info().is_local:
            return await self.prefill_port(request)  # local activities have no heartbeats; the workflow task has
        return await heartbeating(self.prefill_port(request))

    @activity.defn(name=Activity.GRANT_CONSENT)
    async def grant_consent(self, request: ConsentGrantRequest) -> ConsentGrantResult:
        if self.consent_port is None:
            raise ApplicationError("this worker records no consents", type="NOT_CONFIGURED", non_retryable=True)
        # Run and activity id: the same on every attempt of this grant, different after going back and agreeing again.
        info = activity.info()
        return await heartbeating(self.consent_port(request, f"{info.workflow_run_id}/{info.activity_id}"))

    @activity.defn(name=Activity.ALLOCATE_REFERENCE)
    async def allocate_reference(self, request: ReferenceRequest) -> str:
        # One transaction: the number, the index entry that carries it and the receipt notice in the outbox.
        for attempt in range(3):
            try:
                async with self.database.engine.begin() as connection:
                    # The receipt's recipient is read before the first write (see _recipients).
                    recipients = await self._recipients(connection, request.notices)
                    reference = await delivery.reference_in(connection, request.application_id,
                                                            request.department, request.year)
                    if request.index is not None:
                        await index.record_in(connection, replace(request.index, reference_number=reference))
                    outbox = await self._outbox(connection, [replace(n, reference_number=reference)
                                                             for n in request.notices], recipients,
                                                ends_transaction=True)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                # A concurrent attempt wrote the number, the entry or a notice first: the next pass reads them.
        self._dispatch(outbox)
        return reference

    @activity.defn(name=Activity.DELIVER)
    async def deliver_submission(self, submission: Submission) -> DeliveryReceipt:
        return await heartbeating(self._deliver(submission))

    async def _deliver(self, submission: Submission) -> DeliveryReceipt:
        documents = [] if self.documents is None else await self.documents.deliver(
            submission.application_id, submission.answers, submission.submitted_at)
        signed = self.signer.sign_submission(
            application_id=submission.application_id, service_slug=submission.service_id,
            service_hash=submission.content_hash, department=submission.department,
            citizen_ref=submission.citizen_ref, answers=submission.answers,
            consents=[c for c in submission.consents.values() if c not in ("granted", "declined")],
            assurance=submission.assurance, auth_time=None, submitted_at=submission.submitted_at,
            reference_number=submission.reference_number, provenance=submission.provenance,
            computed=submission.computed, documents=documents, payments=submission.payments,
            parties=await self._parties(submission.application_id),
        )
        # The SQL inbox always receives it (the embedded default); an HTTP endpoint too when delivery over
        # HTTP is enabled (production). Both are keyed on the application id, so retries never duplicate.
        fresh = await delivery.deliver_to_inbox(
            self.database, self.cipher, application_id=submission.application_id, department=submission.department,
            reference_number=submission.reference_number, service_id=submission.service_id,
            citizen_ref=submission.citizen_ref, jws=signed.jws,
        )
        channel = "inbox"
        if submission.endpoint and self.http_delivery:
            try:
                fresh = await delivery.deliver_http(self.http, submission.endpoint,
                                                    application_id=submission.application_id, jws=signed.jws,
                                                    files=await self._files(documents))
            except delivery.DeliveryFailed as exc:
                self.events.record(EventKind.DELIVERY_FAILED, service=submission.service_id,
                                   department=submission.department, reason=exc.reason)
                # Unavailable (unreachable, busy, failing): the activity retries until the delivery window closes.
                transient = isinstance(exc, delivery.DeliveryUnavailable)
                if not transient:
                    metrics.DELIVERIES.labels("http", "failed").inc()
                raise ApplicationError(exc.message, type=exc.code, non_retryable=not transient) from exc
            channel = "http"
        metrics.DELIVERIES.labels(channel, "delivered" if fresh else "duplicate").inc()
        if fresh:
            metrics.APPLICATIONS_SUBMITTED.labels(submission.service_id).inc()
        return DeliveryReceipt(submission.application_id, channel, duplicate=not fresh)

    async def _parties(self, application_id: str) -> dict[str, Any] | None:
        """The actor and subject for the department, when the applicant acted for someone else."""
        if self.relationships is not None:
            self.relationships.exists(application_id)  # it is delivering: its parties were settled at its start
            parties = await self.relationships.parties(application_id)
        else:
            parties = await parties_of(self.database, application_id)
        if parties is None or parties.actor_ref == parties.subject_ref:
            return None
        return {"actor": {"ref": parties.actor_ref, "relationship": parties.acting_as.value},
                "subject": {"ref": parties.subject_ref}}

    async def _files(self, documents: list[dict[str, Any]]) -> dict[str, bytes]:
        """The attached files' content by document id, for a channel that carries them with the submission."""
        files: dict[str, bytes] = {}
        for entry in documents:
            content = None if self.documents is None else await self.documents.content(entry["id"])
            if content is not None:
                files[entry["id"]] = content
        return files

    @activity.defn(name=Activity.INDEX)
    async def index_application(self, entry: IndexEntry) -> None:
        await index.record(self.database, entry)

    @activity.defn(name=Activity.RECORD_CHANGES)
    async def record_changes(self, changes: Changes) -> None:
        # One transaction for the index entry and the notices (a local activity may run again: both are upserts).
        for attempt in range(2):
            try:
                async with self.database.engine.begin() as connection:
                    recipients = await self._recipients(connection, changes.notices)
                    if changes.index is not None:
                        await index.record_in(connection, changes.index)
                    outbox = await self._outbox(connection, changes.notices, recipients, ends_transaction=True)
                break
            except IntegrityError:
                if attempt:
                    raise
        self._dispatch(outbox)

    async def _recipients(self, session: Executor, notices: list[NoticeRequest]) -> list[Recipient | None] | None:
        # Read first in the transaction: on SQLite, reads before its first write hold no lock, and every statement
        # after it is a trip through the busy event loop with the database's write lock held, every other writer
        # (every other citizen's submit) waiting for it.
        if notices and self.notices is not None:
            return await self.notices.recipients(session, notices)
        return None

    async def _outbox(self, session: Executor, notices: list[NoticeRequest],
                      recipients: list[Recipient | None] | None = None, *, ends_transaction: bool) -> Outbox | None:
        # Into the outbox, once per key (a local activity may run again); sent once the transaction has committed.
        # ``ends_transaction``: the caller's transaction commits straight after, with nothing in between that could
        # fail, so on SQLite the write commits in its own trip.
        if notices and self.notices is not None:
            return await self.notices.write(session, notices, recipients, ends_transaction=ends_transaction)
        return None

    def _dispatch(self, outbox: Outbox | None) -> None:
        if outbox is not None and self.notices is not None:
            self.notices.dispatch(outbox)

    @activity.defn(name=Activity.SEND_NOTICE)
    async def send_notice(self, request: NoticeRequest) -> NoticeResult:
        if self.notices is None:
            return NoticeResult(request.key, {"any": "no-channel"})
        return await heartbeating(self.notices.send(request))

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        retention = [] if self.documents is None else [DocumentActivities(self.documents).purge_documents]
        fees = self.payments.all() if self.payments is not None else []
        return [self.prefill, self.grant_consent, self.allocate_reference, self.deliver_submission,
                self.index_application, self.record_changes, self.send_notice, *retention, *fees]


T = TypeVar("T")

HEARTBEAT_EVERY = 0.5
"""Seconds between heartbeats of a running I/O activity; the workflow's heartbeat timeout is a few of these."""


async def heartbeating(work: Awaitable[T]) -> T:
    """Await ``work`` while heartbeating, so Temporal learns within seconds that a killed worker's attempt is
    gone and retries it elsewhere, instead of waiting out the whole start-to-close timeout."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()
            # Wait for its clean-up: a database session it holds goes back to the pool now. Left running, the work
            # finished after the worker had stopped and the engine had closed its database, and the connection went
            # into a pool nobody would close.
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: the activity is cancelled, whatever the work raised on its way out


def gateway_prefill(gateway: DataGateway, catalogue: CatalogueStore,
                    relationships: Relationships | None = None) -> Prefill:
    """The prefill port over the consent gateway: one consent artefact for exactly the step's items. Acting for
    someone, the subject's records are read (consent and access log in the subject's name)."""

    async def prefill(request: PrefillRequest) -> PrefillResult:
        level = catalogue.catalogue.assurance.level(request.assurance)
        try:
            actor_ref = None
            if relationships is not None and not request.of_actor:
                relationships.exists(request.application_id)  # its workflow runs this: its parties are settled
                wanted = [*request.items, *(p.over for p in request.predicates)]
                subject = await relationships.prefill_subject(request.application_id, request.citizen_ref, wanted)
                if subject != request.citizen_ref:
                    actor_ref, request = request.citizen_ref, replace(request, citizen_ref=subject)
            consent, result = await _gateway_prefill(gateway, request, level.acr if level else request.assurance,
                                                     actor_ref)
        except EngineError as exc:
            # A refusal (no such citizen, consent revoked, provider said no) does not improve with retries.
            raise ApplicationError(exc.message, type=exc.code, non_retryable=not _transient(exc)) from exc
        # A predicate's result is named by the predicate's id, which is what the fields' `prefill:` refer to.
        names = {predicate_ref(p.over, p.check): p.id for p in request.predicates}
        items = [PrefillItem(names.get(ref, ref), _jsonable(fetched.value), fetched.source_department,
                             fetched.verified)
                 for ref, fetched in result.items.items()]
        return PrefillResult(consent_id=consent.id, items=items)

    return prefill


def consent_grants(consents: ConsentService, catalogue: CatalogueStore) -> GrantConsent:
    """The consent port: the same signed, revocable artefact a prefill creates, one per named department."""

    async def grant(request: ConsentGrantRequest, grant_id: str) -> ConsentGrantResult:
        level = catalogue.catalogue.assurance.level(request.assurance)
        citizen = await consents.citizens.by_ref(request.citizen_ref)
        if citizen is None:
            raise ApplicationError(f"no citizen {request.citizen_ref}", type="NOT_FOUND", non_retryable=True)
        ids: dict[str, str] = {}
        for department in request.departments:
            try:
                consent = await consents.grant(
                    citizen, service_slug=request.service_id, service_hash=request.content_hash,
                    department=department, items=request.items, purpose=request.purpose,
                    acr=level.acr if level else request.assurance, application_id=request.application_id,
                    step_id=request.step_id, grant_key=f"{grant_id}/{department}", items_required=False,
                )
            except EngineError as exc:
                raise ApplicationError(exc.message, type=exc.code, non_retryable=True) from exc
            ids[department] = consent.id
        return ConsentGrantResult(ids)

    return grant


def _transient(exc: EngineError) -> bool:
    return exc.code in ("PROVIDER_UNAVAILABLE", "RATE_LIMITED")


async def _gateway_prefill(gateway: DataGateway, request: PrefillRequest, acr: str,
                           actor_ref: str | None = None) -> tuple[Consent, FetchResult]:
    return await gateway.prefill(
        request.citizen_ref, application_id=request.application_id, step_id=request.step_id,
        service_slug=request.service_id, service_hash=request.content_hash, department=request.department,
        items=[*request.items, *(predicate_ref(p.over, p.check) for p in request.predicates)],
        purpose=request.purpose, acr=acr,
        lawful_basis=request.lawful_basis, mode="standing" if request.mode == "standing" else "one-off",
        valid_for=timedelta(seconds=request.valid_for_seconds) if request.valid_for_seconds else None,
        fetch_id=request.fetch_id or None, actor_ref=actor_ref,
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


def activities_for(engine: Engine, http: delivery.DeliveryClient) -> ApplicationActivities:
    """The worker's activities over the engine's services."""
    return ApplicationActivities(database=engine.database, signer=engine.data.signer,
                                 prefill_port=gateway_prefill(engine.data.gateway, engine.catalogue,
                                                              engine.relationships), http=http,
                                 cipher=engine.data.cipher, http_delivery=not engine.settings.development,
                                 consent_port=consent_grants(engine.data.consents, engine.catalogue),
                                 events=engine.security.events, notices=engine.notices, documents=engine.documents,
                                 payments=PaymentActivities(engine.payments.provider, engine.payments.records,
                                                            engine.data.signer),
                                 relationships=engine.relationships)
