"""``ApplicationService``: what GraphQL calls to start and move applications; the only Temporal caller."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Discriminator, Tag
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from onestop.engine import metrics
from onestop.engine.applications import index, pinned
from onestop.engine.applications.drafts import Draft, DraftStore
from onestop.engine.applications.index import IndexPage, IndexPosition
from onestop.engine.applications.snapshots import SnapshotStore
from onestop.engine.db import Database
from onestop.engine.documents.service import DocumentService
from onestop.engine.errors import EngineError, FieldError, Forbidden, InvalidInput, NotFound, field_error
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.roles import PLATFORM_DEPARTMENT, PLATFORM_ROLE
from onestop.engine.identity.stepup import AssuranceLadder, require_assurance
from onestop.engine.relationships.parties import Acting, ActingAs, Parties, parties_of, record_parties
from onestop.engine.security.alerts import OPERATOR_ROLE, SecurityAlerts, StepUpLocked
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink
from onestop.workflows.application import ServiceApplicationWorkflow
from onestop.workflows.contracts import (
    CITIZEN_REF_ATTRIBUTE,
    DEPARTMENT_ATTRIBUTE,
    DEPARTMENT_STATUSES,
    MESSAGE_MAX_CHARS,
    OUTBOX_BEHAVIOUR,
    QUERY_SNAPSHOT,
    QUERY_STATE,
    REFUSED,
    SERVICE_ID_ATTRIBUTE,
    SIGNAL_ACTING_ENDED,
    SIGNAL_ACTING_TERM,
    SIGNAL_DEPARTMENT_STATUS,
    STATUS_ATTRIBUTE,
    TERMINAL,
    TIMELINE_MAX_ENTRIES,
    ActingEnd,
    ActingEnded,
    ActingTerm,
    ActionResult,
    ApplicationInput,
    ApplicationView,
    BookAppointment,
    Carried,
    DepartmentStatus,
    IndexEntry,
    InfoResponse,
    OpenInput,
    Redeliver,
    Status,
    StepAction,
    StepAnswers,
    StepUpProof,
    TimelineEntry,
    Update,
    Withdraw,
)
from onestop.workflows.interpreter import Applicant, DefinitionFault
from onestop.workflows.opening import expired_view, opening_carried, opening_view
from onestop.workflows.payments import BeginPayment
from onestop.workflows.snapshot import ServiceSnapshot

Answer = ApplicationView | ActionResult
"""What a workflow answers a citizen's action with: the whole view, or (runs started with BRIEF_BEHAVIOUR, while a
draft or just submitted) an ActionResult."""


def _answer_kind(value: Any) -> str:
    if isinstance(value, dict):  # the answer's JSON, parsed
        return "view" if "application_id" in value else "brief"
    return "view" if isinstance(value, ApplicationView) else "brief"


# Told apart by a key only the whole view has, instead of pydantic trying the view first and then the brief answer
# (a failed attempt at the large view cost 20-30 us per answer). The client's result_type takes it, though typed as
# a class.
_ANSWER_TYPE: Any = Annotated[Annotated[ApplicationView, Tag("view")] | Annotated[ActionResult, Tag("brief")],
                              Discriminator(_answer_kind)]
_KNOWN_MAX = 20_000

UpdateInput = StepAnswers | StepAction | StepUpProof | Withdraw | InfoResponse | BookAppointment | BeginPayment
"""What a citizen action sends to the workflow."""

SnapshotSource = Callable[[str], ServiceSnapshot | None]
"""The current pinned definition of a service by slug (None when the catalogue has no such service)."""

APPROVER_ROLE = "approver"
"""The staff role that may decide an application; caseworkers move it on (IN_REVIEW, NEEDS_INFO)."""
DECISIONS = frozenset({Status.APPROVED, Status.REJECTED})


def citizen_view(view: ApplicationView) -> ApplicationView:
    """The application as its citizen sees it: a failed delivery reads as SUBMITTED ("received, being processed").

    Delivery is the platform's and the department's to fix, and the citizen can do nothing about it, so they
    see neither the failure nor the operator's redelivery; staff and operators see both.
    """
    if view.status != Status.DELIVERY_FAILED and all(t.status != Status.DELIVERY_FAILED for t in view.timeline):
        return view
    timeline: list[TimelineEntry] = []
    submitted = False
    for entry in view.timeline:
        if entry.status == Status.DELIVERY_FAILED or (entry.status == Status.SUBMITTED and submitted):
            continue  # the failure, and the SUBMITTED of each redelivery after it
        submitted = submitted or entry.status == Status.SUBMITTED
        timeline.append(entry)
    status = Status.SUBMITTED if view.status == Status.DELIVERY_FAILED else view.status
    return replace(view, status=status, timeline=timeline)




def application_id_for(citizen_ref: str, service_id: str, client_mutation_id: str | None) -> str:
    """Same citizen + service + client mutation id → same workflow id, so concurrent starts give one application.

    Hashed so the id reveals neither the citizen reference nor anything the client chose.
    """
    if client_mutation_id is None:
        return f"app-{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{citizen_ref}\x1f{service_id}\x1f{client_mutation_id}".encode()).hexdigest()
    return f"app-{digest[:32]}"


class ApplicationService:
    events: EventSink = NO_EVENTS
    # Face step-up locks set by the anomaly detector; None where no detector runs (unit tests, tools).
    alerts: SecurityAlerts | None = None
    # Uploaded files: answers naming documents are checked against them; a decision starts their retention.
    documents: DocumentService | None = None
    # Called after staff approve or reject (e.g. an approved application to join provisions a sandbox).
    after_decision: Callable[[Principal, ApplicationView], Awaitable[None]] | None = None
    # An application's parties (None: its applicant acts for themself); the composition root gives the
    # relationships' reader, which keeps them (they never change once the workflow exists).
    parties: Callable[[str], Awaitable[Parties | None]] | None = None

    def __init__(self, client: Client, task_queue: str, database: Database, snapshots: SnapshotSource,
                 ladder: AssuranceLadder | Callable[[], AssuranceLadder] | None = None, *, history_limit: int = 0,
                 store: SnapshotStore | None = None, delivery_retry: timedelta | None = None,
                 drafts: DraftStore | None = None, payment_timeout: timedelta | None = None) -> None:
        self.client = client
        # Where anonymous starts are recorded without a workflow; None starts a workflow at once.
        self.drafts = drafts
        self.delivery_retry = delivery_retry
        self.payment_timeout = payment_timeout
        self.task_queue = task_queue
        self.database = database
        self.snapshots = snapshots
        self._ladder = ladder
        self.history_limit = history_limit
        self.store = store if store is not None else SnapshotStore(database)
        # Workers decoding an input that names its snapshot by reference read it from this store.
        pinned.use_loader(self.store.pinned)
        # Application id -> the content hash of its pinned snapshot, for rendering brief answers without a query.
        self._pins: dict[str, str] = {}

    @property
    def ladder(self) -> AssuranceLadder | None:
        """The assurance ladder of the catalogue served now (a callable source follows catalogue reloads)."""
        return self._ladder() if callable(self._ladder) else self._ladder

    # ---- citizen actions ----

    def check_assurance(self, principal: Principal, service_slug: str, *, now: datetime | None = None) -> None:
        """Raise the RFC 9470 challenge when the caller's token is below the service's assurance level.

        Called before anything about the citizen is read for the service (eligibility facts, prefill), so a weak
        token learns nothing and causes no data access.
        """
        snapshot = self.snapshots(service_slug)
        if snapshot is None or self.ladder is None:
            return
        require_assurance(principal, rank_of=self.ladder.rank_of, acr_of=self.ladder.acr_of,
                          level=snapshot.assurance, now=now or datetime.now(UTC))

    def level_of(self, principal: Principal | None) -> str:
        """The assurance level id a later action carries to the workflow: the token's, or "unknown" (ranked below
        every level) for an acr the ladder does not know; empty without a token (no check, see the contracts)."""
        if principal is None:
            return ""
        level = self.ladder.level_for_acr(principal.acr) if self.ladder is not None else None
        return level.id if level is not None else (principal.acr or "unknown")

    async def start(self, citizen_ref: str, citizen: Applicant, service_slug: str,
                    client_mutation_id: str | None = None, *, principal: Principal | None = None,
                    brief: bool = False, acting: Acting | None = None) -> ApplicationView:
        _check_client_mutation_id(client_mutation_id)
        snapshot = self.snapshots(service_slug)
        if snapshot is None:
            raise NotFound("service", service_slug)
        if principal is not None:
            self.check_assurance(principal, service_slug)
        if not citizen.logged_in and snapshot.eligibility_when and "citizen.age" in snapshot.eligibility_when:
            # Without a login the age is unknown; saying "not eligible" would be wrong for most people.
            raise InvalidInput([FieldError(["serviceSlug"], "LOGIN_REQUIRED", {
                "en": "This service checks your age, which needs a login: log in and start again.",
                "tc": "此服務需要核實你的年齡，請先登入再開始申請。"})])
        acting_for = acting is not None and acting.subject.ref != acting.actor.ref
        # Acting for someone: the subject is part of the key, so one retry id never mixes two dependents.
        key = f"{citizen_ref}\x1f{acting.subject.ref}" if acting is not None and acting_for else citizen_ref
        application_id = application_id_for(key, snapshot.id, client_mutation_id)
        if acting is not None and acting_for:
            # Before the workflow exists, so an application acted for another never lacks its parties.
            await record_parties(self.database, application_id, acting)
        await self.store.put(snapshot)
        now = datetime.now(UTC)
        if not citizen.logged_in and self.drafts is not None:
            drafted = await self._draft(application_id, snapshot, citizen_ref, citizen, client_mutation_id, now)
            if drafted is not None:
                metrics.APPLICATIONS_STARTED.labels(snapshot.id).inc()
                return drafted
        answer: Answer = await self.client.execute_update_with_start_workflow(
            Update.OPEN, OpenInput(client_mutation_id),
            start_workflow_operation=await self._start_operation(application_id, snapshot, citizen_ref, citizen,
                                                                 now, acting=_term(acting)),
            result_type=_ANSWER_TYPE,
        )
        # A same-id start finds the application as it is; it runs the snapshot it started with. The workflow answers
        # only its own start briefly (rendered from this snapshot, no query); a retried start gets the whole view,
        # whose content hash then replaces this pin.
        self._pins.setdefault(application_id, snapshot.content_hash)
        view = await self._expand(application_id, citizen_ref, answer, brief, created_at=now)
        # The only index write for a new application: workflows started with LEAN_BEHAVIOUR leave it to us.
        await self._index(view)
        metrics.APPLICATIONS_STARTED.labels(snapshot.id).inc()
        return view

    async def _start_operation(self, application_id: str, snapshot: ServiceSnapshot, citizen_ref: str,
                               citizen: Applicant, created_at: datetime, carried: Carried | None = None, *,
                               acting: ActingTerm | None = None
                               ) -> WithStartWorkflowOperation[ServiceApplicationWorkflow, ApplicationView]:
        # The input names the snapshot by reference (see ``pinned``): stored once, not carried in every history.
        ref = await self.store.pin(snapshot)
        return WithStartWorkflowOperation(
            ServiceApplicationWorkflow.run,
            ApplicationInput(application_id, None, citizen_ref, citizen, created_at, carried,
                             history_limit=self.history_limit,
                             delivery_retry_seconds=self._delivery_retry_seconds(), behaviour=OUTBOX_BEHAVIOUR,
                             service_ref=ref,
                             payment_timeout_seconds=self.payment_timeout.total_seconds()
                             if self.payment_timeout is not None else 0.0, acting=acting),
            id=application_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A draft's workflow starts once: an id whose workflow has closed is never started again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE if carried is not None
            else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(SERVICE_ID_ATTRIBUTE, snapshot.id),
                SearchAttributePair(CITIZEN_REF_ATTRIBUTE, citizen_ref),
                SearchAttributePair(STATUS_ATTRIBUTE, Status.DRAFT.value),
                SearchAttributePair(DEPARTMENT_ATTRIBUTE, snapshot.department),
            ]),
        )

    # ---- anonymous drafts: no workflow until the first action ----

    async def _draft(self, application_id: str, snapshot: ServiceSnapshot, citizen_ref: str, citizen: Applicant,
                     client_mutation_id: str | None, now: datetime) -> ApplicationView | None:
        """Record an anonymous draft and answer its first step from the snapshot; None when only the workflow
        may answer (a definition fault, or not eligible: it refuses or closes at once, as it always did)."""
        assert self.drafts is not None
        try:
            view = opening_view(application_id, snapshot, citizen_ref, citizen, now)
        except DefinitionFault:
            return None
        if view.status is not Status.DRAFT:
            return None
        lifetime = min(self.drafts.ttl, timedelta(seconds=snapshot.draft_expiry_seconds))
        await self.drafts.create(Draft(application_id, citizen_ref, snapshot.id, snapshot.content_hash, citizen,
                                       client_mutation_id, now, now + lifetime))
        return await self._complete(view)

    async def _draft_view(self, application_id: str) -> ApplicationView | None:
        """An unstarted draft's state, as its workflow would answer it; None when there is no such draft."""
        found = await self._drafted(application_id)
        if found is None:
            return None
        draft, snapshot = found
        view = opening_view(draft.application_id, snapshot, draft.citizen_ref, draft.citizen, draft.created_at)
        return await self._complete(expired_view(view, draft.expires_at) if draft.expired else view)

    async def _drafted(self, application_id: str) -> tuple[Draft, ServiceSnapshot] | None:
        if self.drafts is None:
            return None
        draft = await self.drafts.get(application_id)
        if draft is None:
            return None
        snapshot = await self.store.get(draft.content_hash)
        return None if snapshot is None else (draft, snapshot)

    async def _start_draft(self, draft: Draft, snapshot: ServiceSnapshot, name: str, arg: UpdateInput,
                           update_id: str | None) -> Answer:
        """The citizen's first action on a draft: start its workflow with that action (update-with-start).

        Concurrent first actions all name the same workflow id, so one workflow starts and takes each in turn.
        The workflow carries the draft's creation time and timeline, so nothing the citizen saw changes.
        """
        assert self.drafts is not None
        opened = opening_view(draft.application_id, snapshot, draft.citizen_ref, draft.citizen, draft.created_at)
        operation = await self._start_operation(draft.application_id, snapshot, draft.citizen_ref, draft.citizen,
                                                draft.created_at, opening_carried(opened))
        try:
            view: Answer = await self.client.execute_update_with_start_workflow(
                name, arg, id=update_id, start_workflow_operation=operation, result_type=_ANSWER_TYPE)
        except WorkflowUpdateFailedError:
            await self._started(opened)  # refused, but the workflow runs now
            raise
        except WorkflowAlreadyStartedError:
            # Its workflow ran and closed (the draft outlived its removal): answer as for any closed one.
            await self.drafts.remove(draft.application_id)
            view = await self.client.get_workflow_handle(draft.application_id).execute_update(
                name, arg, id=update_id, result_type=_ANSWER_TYPE)
            return view
        await self._started(opened)
        return view

    async def _started(self, opened: ApplicationView) -> None:
        assert self.drafts is not None
        # Indexed as a start used to be (the upsert keeps whatever newer state the workflow indexed meanwhile).
        await self._index(opened)
        await self.drafts.remove(opened.application_id)

    async def owner_among(self, application_id: str, candidates: Sequence[str]) -> str:
        """The one of ``candidates`` that owns the application (the first when none does: it then finds nothing)."""
        if len(candidates) > 1:
            try:
                owner = (await self._query(application_id)).citizen_ref
            except NotFound:
                return candidates[0]
            if owner in candidates:
                return owner
        return candidates[0]

    async def get(self, application_id: str, citizen_ref: str, *, as_subject: Sequence[str] = ()) -> ApplicationView:
        """The owner's application; with ``as_subject``, also one another citizen made for ``citizen_ref`` under
        these relationships, to read (its actions stay the owner's)."""
        view = await self._query(application_id)
        if view.citizen_ref != citizen_ref:
            parties = await parties_of(self.database, application_id) if as_subject else None
            if parties is None or parties.subject_ref != citizen_ref or parties.acting_as.value not in as_subject:
                raise NotFound("application", application_id)
        return citizen_view(view)

    async def submit_step(self, application_id: str, citizen_ref: str, step_id: str, answers: dict[str, Any],
                          client_mutation_id: str | None = None, *,
                          principal: Principal | None = None, brief: bool = False) -> ApplicationView:
        if self.documents is not None and isinstance(answers, dict):
            # Before the workflow: only the engine knows whose a document is (the validator sees only its id).
            await self.documents.check_answers(application_id, citizen_ref, answers)
        return await self._update(application_id, citizen_ref, Update.SUBMIT_STEP,
                                  StepAnswers(step_id, answers, client_mutation_id, citizen_ref,
                                              self.level_of(principal)), client_mutation_id, principal, brief)

    async def book_appointment(self, application_id: str, citizen_ref: str, step_id: str, office: str,
                               start: datetime, client_mutation_id: str | None = None, *,
                               principal: Principal | None = None) -> ApplicationView:
        """Book a slot of an appointment step, or move the booking to another slot (also after submission)."""
        return await self._update(application_id, citizen_ref, Update.BOOK_APPOINTMENT,
                                  BookAppointment(step_id, office, start, client_mutation_id, citizen_ref,
                                                  self.level_of(principal)), client_mutation_id, principal)

    async def grant_consent(self, application_id: str, citizen_ref: str, step_id: str,
                            client_mutation_id: str | None = None, *,
                            principal: Principal | None = None, brief: bool = False) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.GRANT_CONSENT,
                                  StepAction(step_id, client_mutation_id, citizen_ref, self.level_of(principal)),
                                  client_mutation_id, principal, brief)

    async def decline_consent(self, application_id: str, citizen_ref: str, step_id: str,
                              client_mutation_id: str | None = None, *,
                              principal: Principal | None = None, brief: bool = False) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.DECLINE_CONSENT,
                                  StepAction(step_id, client_mutation_id, citizen_ref, self.level_of(principal)),
                                  client_mutation_id, principal, brief)

    async def go_back(self, application_id: str, citizen_ref: str, step_id: str,
                      client_mutation_id: str | None = None, *,
                      principal: Principal | None = None, brief: bool = False) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.GO_BACK,
                                  StepAction(step_id, client_mutation_id, citizen_ref, self.level_of(principal)),
                                  client_mutation_id, principal, brief)

    async def withdraw(self, application_id: str, citizen_ref: str,
                       client_mutation_id: str | None = None, *,
                       principal: Principal | None = None, brief: bool = False) -> ApplicationView:
        try:
            view = await self._update(application_id, citizen_ref, Update.WITHDRAW,
                                      Withdraw(client_mutation_id, citizen_ref, self.level_of(principal)),
                                      client_mutation_id, principal, brief)
            if self.documents is not None:
                await self.documents.start_retention(application_id, datetime.now(UTC))
            return view
        except InvalidInput as exc:
            if exc.code != "APPLICATION_CLOSED":
                raise
            view = await self.get(application_id, citizen_ref)
            raise InvalidInput([FieldError([], "NOT_WITHDRAWABLE", {
                "en": f"The application is {view.status}; it can no longer be withdrawn.",
                "tc": f"申請狀態為 {view.status}，已不能撤回。"})]) from exc

    async def begin_payment(self, application_id: str, citizen_ref: str, step_id: str, return_url: str = "",
                            client_mutation_id: str | None = None, *,
                            principal: Principal | None = None) -> ApplicationView:
        """Open (or show again) the hosted payment page of the current payment step; its URL is the view's
        pending payment's. Asking twice never opens a second page while one is open."""
        return await self._update(application_id, citizen_ref, Update.BEGIN_PAYMENT,
                                  BeginPayment(step_id, return_url, client_mutation_id, citizen_ref,
                                               self.level_of(principal)), client_mutation_id, principal)

    async def respond(self, application_id: str, citizen_ref: str, message: str,
                      client_mutation_id: str | None = None, *,
                      principal: Principal | None = None, brief: bool = False) -> ApplicationView:
        """The citizen's reply to a NEEDS_INFO request: on the timeline, and the application is IN_REVIEW again."""
        try:
            return await self._update(application_id, citizen_ref, Update.RESPOND,
                                      InfoResponse(message, client_mutation_id, citizen_ref,
                                                   self.level_of(principal)), client_mutation_id, principal, brief)
        except InvalidInput as exc:
            if exc.code != "APPLICATION_CLOSED":
                raise
            view = await self.get(application_id, citizen_ref)
            raise InvalidInput([FieldError([], "NOT_AWAITING_INFO", {
                "en": f"The application is {view.status}; there is no request to reply to.",
                "tc": f"申請狀態為 {view.status}；沒有需要回覆的要求。"})]) from exc

    async def complete_step_up(self, application_id: str, principal: Principal, citizen_ref: str, step_id: str,
                               client_mutation_id: str | None = None, *, now: datetime | None = None,
                               brief: bool = False) -> ApplicationView:
        """Check the caller's current token (RFC 9470) and record the step-up; face checks are bound to this step.

        The workflow's validator decides (level, age, binding) without a query first; only a refusal costs
        a query, to build the challenge with the step's own level and max age.
        """
        ladder = self.ladder
        reached = ladder.level_for_acr(principal.acr) if ladder is not None else None
        if self.alerts is not None and ladder is not None and principal.acr == ladder.top.acr:
            try:
                await self.alerts.require_face_unlocked(citizen_ref, now=now)
            except StepUpLocked:
                self.events.record(EventKind.STEP_UP_LOCKED, citizen_ref=citizen_ref, step=step_id)
                raise
        parties = await (self.parties or self._read_parties)(application_id)
        subject_ref = parties.subject_ref if parties is not None and parties.actor_ref != parties.subject_ref else None
        txn = principal.txn or ""
        if subject_ref is not None:
            # Acting for someone, the face check names the subject too: a check done on one dependent's behalf is
            # never accepted for another. The workflow sees the plain step binding only when the token had it.
            txn = step_up_binding(application_id, step_id) if txn == step_up_binding(
                application_id, step_id, subject_ref) else ""
        proof = StepUpProof(step_id, reached.id if reached else principal.acr, principal.auth_time,
                            client_mutation_id, citizen_ref, txn)
        try:
            view = await self._update(application_id, citizen_ref, Update.COMPLETE_STEP_UP, proof,
                                      client_mutation_id, principal, brief)
            self.events.record(EventKind.STEP_UP_PASSED, citizen_ref=citizen_ref, service=view.service_id,
                               acr=principal.acr)
        except InvalidInput as refused:
            if refused.code != "INSUFFICIENT_USER_AUTHENTICATION" or ladder is None:
                raise
            self.events.record(EventKind.STEP_UP_CHALLENGED, citizen_ref=citizen_ref, acr=principal.acr)
            view = await self.get(application_id, citizen_ref)
            step = view.current_step
            if step is None or step.type != "stepUp" or step.id != step_id:
                raise
            level = step.assurance or "basic"
            require_assurance(
                principal, rank_of=ladder.rank_of, acr_of=ladder.acr_of, level=level, now=now or datetime.now(UTC),
                max_age=timedelta(seconds=step.max_age_seconds) if step.max_age_seconds is not None else None,
                binding=step_up_binding(application_id, step_id, subject_ref) if ladder.top.id == level else None,
            )
            raise
        metrics.STEPUP_SUCCESSES.inc()
        return view

    async def list_for_citizen(self, citizen_ref: str, *, status: str | None = None, first: int = 100,
                               after: IndexPosition | None = None, acted_for: Sequence[str] = ()) -> IndexPage:
        """The citizen's applications from the index, newest first (and those made for them, see citizen_page)."""
        return await index.citizen_page(self.database, citizen_ref, first=first, after=after, status=status,
                                        acted_for=acted_for)

    # ---- department side ----

    async def department_inbox(self, principal: Principal, *, status: str | None = None, first: int = 100,
                               after: IndexPosition | None = None) -> IndexPage:
        """The staff member's department's submitted applications from the index, newest first."""
        return await index.department_page(self.database, self._staff_department(principal), first=first,
                                           after=after, status=status)

    async def get_for_staff(self, principal: Principal, application_id: str) -> ApplicationView:
        return await self._read_for_staff(principal, application_id, self._staff_department(principal))

    async def _read_for_staff(self, principal: Principal, application_id: str, department: str) -> ApplicationView:
        view = await self._query(application_id)
        if view.department != department or view.reference_number is None:
            raise NotFound("application", application_id)
        self.events.record(EventKind.STAFF_READ, staff=principal.sub, citizen_ref=view.citizen_ref,
                           service=view.service_id, department=department)
        return view

    async def update_status(self, principal: Principal, application_id: str, status: str,
                            message: str | None = None) -> ApplicationView:
        view = await self.get_for_staff(principal, application_id)
        target = Status(status)
        if target not in DEPARTMENT_STATUSES:
            raise InvalidInput([FieldError(["status"], "INVALID_STATUS", {
                "en": f"Staff can set IN_REVIEW, NEEDS_INFO, APPROVED or REJECTED, not {status}."})])
        if target in DECISIONS and APPROVER_ROLE not in principal.roles:
            raise InvalidInput([FieldError(["status"], "APPROVER_REQUIRED", {
                "en": f"An approver must decide: only staff with the '{APPROVER_ROLE}' role may set {target.value}; "
                      "a caseworker may set IN_REVIEW or NEEDS_INFO.",
                "tc": f"須由審批人員決定：只有具「{APPROVER_ROLE}」角色的職員可設為 {target.value}；"
                      "個案處理人員可設為 IN_REVIEW 或 NEEDS_INFO。",
                "sc": f"须由审批人员决定：只有具“{APPROVER_ROLE}”角色的职员可设为 {target.value}；"
                      "个案处理人员可设为 IN_REVIEW 或 NEEDS_INFO。"})])
        if view.status in TERMINAL:
            raise InvalidInput([FieldError(["status"], "INVALID_TRANSITION", {
                "en": f"The application is already {view.status}; it cannot change."})])
        if view.status == Status.DELIVERY_FAILED:
            raise InvalidInput([FieldError(["status"], "INVALID_TRANSITION", {
                "en": "The application has not reached the department: its delivery failed. An operator "
                      "redelivers it once the department's endpoint is fixed; then it can move on."})])
        message = message.strip() if message else None
        if target is Status.NEEDS_INFO and not message:
            raise InvalidInput([FieldError(["message"], "REQUIRED", {
                "en": "Say what information is needed."})])
        if message is not None and len(message) > MESSAGE_MAX_CHARS:
            raise InvalidInput([field_error(["message"], f"The message has {len(message)} characters; at most "
                                            f"{MESSAGE_MAX_CHARS} are allowed.", "TOO_LONG")])
        if len(view.timeline) >= TIMELINE_MAX_ENTRIES:
            raise InvalidInput([field_error(["status"], f"This application's timeline holds {len(view.timeline)} "
                                            "entries, the most it can; decide it, or contact the platform team.",
                                            "APPLICATION_FULL")])
        handle = self.client.get_workflow_handle(application_id)
        before = len(view.timeline)
        await handle.signal(SIGNAL_DEPARTMENT_STATUS, DepartmentStatus(target, message, principal.sub))
        # A signal has no answer; wait briefly until the workflow has applied it so the caller sees it.
        for _ in range(50):
            view = await self._query(application_id)
            if len(view.timeline) > before:
                break
            await asyncio.sleep(0.1)
        await self._index(view)
        if self.documents is not None and target in DECISIONS:
            await self.documents.start_retention(application_id, datetime.now(UTC))
        self.events.record(EventKind.STAFF_DECISION, staff=principal.sub, citizen_ref=view.citizen_ref,
                           service=view.service_id, outcome=target.value)
        metrics.APPLICATIONS_DECIDED.labels(view.service_id, target.value).inc()
        if target in DECISIONS and self.after_decision is not None:
            await self.after_decision(principal, view)
        return view

    async def redeliver(self, principal: Principal, application_id: str,
                        client_mutation_id: str | None = None) -> ApplicationView:
        """Deliver a DELIVERY_FAILED application again, with a fresh retry window (operators only)."""
        _check_client_mutation_id(client_mutation_id)
        if OPERATOR_ROLE not in principal.roles:
            self._staff_department(principal)  # not staff at all: the same refusal as every staff call
            raise Forbidden(f"redelivery needs the '{OPERATOR_ROLE}' staff role")
        if not principal.is_staff or principal.department is None:
            raise Forbidden("this needs a department staff sign-in with a staff role")
        # The operator role alone may redeliver (within the operator's department), though it opens no inbox.
        await self._read_for_staff(principal, application_id, principal.department)
        update_id = None
        if client_mutation_id is not None:
            digest = hashlib.sha256(f"{principal.sub}\x1f{client_mutation_id}".encode()).hexdigest()[:32]
            update_id = f"{Update.REDELIVER}:{digest}"
        try:
            view: ApplicationView = await self.client.get_workflow_handle(application_id).execute_update(
                Update.REDELIVER, Redeliver(principal.sub, client_mutation_id), id=update_id,
                result_type=ApplicationView)
        except WorkflowUpdateFailedError as exc:
            raise _refused(exc) from exc
        await self._index(view)
        return view

    def _delivery_retry_seconds(self) -> float:
        return self.delivery_retry.total_seconds() if self.delivery_retry is not None else 0.0

    def _staff_department(self, principal: Principal) -> str:
        # Operators handle security alerts platform-wide; that role alone opens no department's applications.
        if not principal.is_staff or principal.department is None or set(principal.roles) <= {OPERATOR_ROLE}:
            raise Forbidden("this needs a department staff sign-in with a staff role")
        if principal.department == PLATFORM_DEPARTMENT and PLATFORM_ROLE not in principal.roles:
            raise Forbidden(f"the platform team's inbox needs the '{PLATFORM_ROLE}' staff role")
        return principal.department

    # ---- plumbing ----

    async def _query(self, application_id: str) -> ApplicationView:
        for attempt in range(2):
            try:
                view: ApplicationView = await self.client.get_workflow_handle(application_id).query(
                    QUERY_STATE, result_type=ApplicationView)
            except RPCError as exc:
                if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    raise
                drafted = await self._draft_view(application_id)
                if drafted is not None:
                    return drafted
                if attempt == 1 or self.drafts is None:
                    raise NotFound("application", application_id) from exc
                continue  # no draft either: its workflow may have started just now, and removed it; ask again
            return await self._complete(view)
        raise AssertionError("unreachable")

    async def _expand(self, application_id: str, citizen_ref: str, answer: Answer, brief: bool, *,
                      created_at: datetime | None = None) -> ApplicationView:
        """The view to answer with: the workflow's whole view, or one built from its brief answer.

        ``brief``: the caller renders the step (GraphQL), so a brief answer becomes a partial view from the pinned
        snapshot (no query); otherwise, and whenever the snapshot is not known here, the whole view is queried.
        """
        if isinstance(answer, ApplicationView):
            return await self._complete(answer)
        content_hash = self._pins.get(application_id)
        rendering = await self.store.rendering(content_hash) if brief and content_hash else None
        # Shared by every view of this snapshot at this point: already titled, so no completion pass follows.
        outline = rendering.outline(answer.current_step_id, answer.steps) if rendering is not None else None
        if rendering is None or outline is None:
            return await self._query(application_id)
        snapshot = rendering.snapshot
        at = created_at or datetime.now(UTC)  # not read from a partial view: GraphQL loads the whole one for it
        self._pin(application_id, snapshot.content_hash)
        return ApplicationView(
            application_id=application_id, service_id=snapshot.id, service_version=snapshot.version,
            content_hash=snapshot.content_hash, department=snapshot.department, citizen_ref=citizen_ref,
            status=answer.status, current_step_id=answer.current_step_id, completed=[], answers=answer.answers,
            prefilled=answer.prefilled, consents={}, timeline=[], reference_number=answer.reference_number,
            delivered=False, created_at=at, updated_at=at, exit_message=answer.exit_message,
            current_step=rendering.step(answer.current_step_id), outline=outline,
            assurance=snapshot.assurance, partial=True,
        )

    def _pin(self, application_id: str, content_hash: str) -> None:
        if len(self._pins) >= _KNOWN_MAX:
            self._pins.clear()
        self._pins[application_id] = content_hash

    async def _complete(self, view: ApplicationView) -> ApplicationView:
        self._pin(view.application_id, view.content_hash)
        async def ask_the_workflow() -> ServiceSnapshot:
            snapshot: ServiceSnapshot = await self.client.get_workflow_handle(view.application_id).query(
                QUERY_SNAPSHOT, result_type=ServiceSnapshot)
            return snapshot

        return await self.store.complete(view, ask_the_workflow)

    async def _update(self, application_id: str, citizen_ref: str, name: str, arg: UpdateInput,
                      client_mutation_id: str | None, principal: Principal | None = None,
                      brief: bool = False) -> ApplicationView:
        """Send an update; the workflow's validator checks ownership, so no query round trip comes first."""
        _check_client_mutation_id(client_mutation_id)
        # Temporal answers a repeated update id with the first outcome without validating again: the id binds
        # the caller too, so someone else's retry of the same client mutation id is validated afresh.
        update_id = None
        if client_mutation_id is not None:
            digest = hashlib.sha256(f"{citizen_ref}\x1f{client_mutation_id}".encode()).hexdigest()[:32]
            update_id = f"{name}:{digest}"
        try:
            answer = await self._send(application_id, name, arg, update_id)
        except WorkflowUpdateFailedError as exc:
            refused = _refused(exc)
            if isinstance(refused, InvalidInput) and refused.code == "NOT_FOUND":
                raise NotFound("application", application_id) from exc
            if isinstance(refused, InvalidInput) and principal is not None and _below_service_level(refused):
                await self._challenge(application_id, citizen_ref, principal)
            raise refused from exc
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            if "already completed" not in exc.message:
                raise NotFound("application", application_id) from exc
            await self.get(application_id, citizen_ref)  # a closed application of someone else stays unknown
            raise _closed() from exc
        view = await self._expand(application_id, citizen_ref, answer, brief)
        if view.status not in (Status.DRAFT, Status.SUBMITTED):  # the workflow indexed a submission
            await self._index(view)
        return citizen_view(view)

    async def end_acting(self, application_ids: list[str], reason: ActingEnd = ActingEnd.REVOKED, *,
                         subject_ref: str = "", on_end: Mapping[str, str] | None = None) -> None:
        """Tell each application that its actor's right has ended (a revoked mandate, an ended guardianship): it is
        handed to the person it is for at once. ``subject_ref`` and ``on_end`` (by application) reach applications
        started before they had a term too. Closed applications are left as they are."""
        for application_id in application_ids:
            ended = ActingEnded(reason, subject_ref, (on_end or {}).get(application_id, "move"))
            await self._signal_open(application_id, SIGNAL_ACTING_ENDED, ended)

    async def set_acting_term(self, terms: Mapping[str, ActingTerm]) -> None:
        """Give each application (by id) a new end to its actor's right: a durable timer hands it over then."""
        for application_id, term in terms.items():
            await self._signal_open(application_id, SIGNAL_ACTING_TERM, term)

    async def _signal_open(self, application_id: str, name: str, arg: object) -> None:
        try:
            await self.client.get_workflow_handle(application_id).signal(name, arg)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise

    async def _send(self, application_id: str, name: str, arg: UpdateInput, update_id: str | None
                    ) -> Answer:
        """The update to the application's workflow, which an anonymous draft's first action starts."""
        handle = self.client.get_workflow_handle(application_id)
        try:
            view: Answer = await handle.execute_update(name, arg, id=update_id, result_type=_ANSWER_TYPE)
            return view
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND or "already completed" in exc.message \
                    or self.drafts is None:
                raise
            drafted = await self._drafted(application_id)
            if drafted is None:
                # Its workflow may have started just now (and removed the draft): ask it once more.
                view = await handle.execute_update(name, arg, id=update_id, result_type=_ANSWER_TYPE)
                return view
        if drafted[0].citizen_ref != arg.citizen_ref:
            # Someone else's draft looks unknown, and starts nothing.
            raise NotFound("application", application_id)
        if drafted[0].expired:
            raise _closed()  # as its workflow, closed by the service's draft expiry, would answer
        return await self._start_draft(*drafted, name, arg, update_id)

    async def _challenge(self, application_id: str, citizen_ref: str, principal: Principal) -> None:
        """Raise the RFC 9470 challenge for the application's own service level (pinned when it started)."""
        ladder = self.ladder
        if ladder is None:
            return
        view = await self.get(application_id, citizen_ref)
        level = view.assurance if view.assurance in ladder.ids else ladder.levels[0].id
        require_assurance(principal, rank_of=ladder.rank_of, acr_of=ladder.acr_of, level=level,
                          now=datetime.now(UTC))

    async def _read_parties(self, application_id: str) -> Parties | None:
        return await parties_of(self.database, application_id)

    async def _index(self, view: ApplicationView) -> None:
        # The workflow indexes status changes itself, just after answering; writing here too means the caller's
        # next list already shows what this action did (the upsert keeps the newest).
        await index.record(self.database, IndexEntry(
            view.application_id, view.citizen_ref, view.service_id, view.department, view.status,
            view.reference_number, view.created_at, view.updated_at,
        ))


CLIENT_MUTATION_ID_MAX_CHARS = 100


def _check_client_mutation_id(client_mutation_id: str | None) -> None:
    # The workflow keeps recent client mutation ids to answer retries: an unbounded one would grow its state.
    if client_mutation_id is not None and len(client_mutation_id) > CLIENT_MUTATION_ID_MAX_CHARS:
        raise InvalidInput([field_error(["clientMutationId"], f"A clientMutationId has at most "
                                        f"{CLIENT_MUTATION_ID_MAX_CHARS} characters; use a UUID.", "TOO_LONG")])


def step_up_binding(application_id: str, step_id: str, subject_ref: str | None = None) -> str:
    """The ``txn`` a face-verified token must carry to complete this step of this application; acting for someone,
    it also names the subject (by a digest: the binding travels in sign-in URLs, the reference must not)."""
    if subject_ref is None:
        return f"{application_id}:{step_id}"
    digest = hashlib.sha256(f"{application_id}\x1f{subject_ref}".encode()).hexdigest()[:32]
    return f"{application_id}:{step_id}:for-{digest}"


def _below_service_level(refused: InvalidInput) -> bool:
    """The workflow refused the caller's token as below the service's level (not a step-up step's)."""
    return any(e.code == "INSUFFICIENT_USER_AUTHENTICATION" and list(e.path) == ["assurance"] for e in refused.errors)


def _closed() -> InvalidInput:
    return InvalidInput([FieldError([], "APPLICATION_CLOSED", {
        "en": "This application is closed and cannot change.", "tc": "此申請已結束，無法更改。"})])


def _refused(exc: WorkflowUpdateFailedError) -> EngineError:
    """The workflow's refusal; its paths are rooted at the update's input, as this service's calls are."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == REFUSED and cause.details:
        errors = [FieldError(list(e["path"]), e["code"], dict(e["message"])) for e in cause.details[0]]
        return InvalidInput(errors)
    return EngineError("UPDATE_FAILED", "the application could not be updated; try again")


def _term(acting: Acting | None) -> ActingTerm | None:
    """The durable end of an actor's right, for an application started for someone else."""
    if acting is None or acting.subject.ref == acting.actor.ref or acting.until is None:
        return None
    reason = {ActingAs.PARENT: ActingEnd.ADULT, ActingAs.GUARDIAN: ActingEnd.GUARDIANSHIP}.get(acting.acting_as,
                                                                                            ActingEnd.EXPIRED)
    return ActingTerm(acting.subject.ref, acting.until, reason, acting.on_end)
