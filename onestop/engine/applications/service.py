"""``ApplicationService``: what GraphQL calls to start and move applications; the only Temporal caller."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from onestop.engine.applications.activities import record
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.db import ApplicationRow, Database
from onestop.engine.errors import EngineError, Forbidden, NotFound
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import AssuranceLadder, require_assurance
from onestop.engine.security.alerts import OPERATOR_ROLE, SecurityAlerts, StepUpLocked
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink
from onestop.engine.temporal import CITIZEN_REF, DEPARTMENT, SERVICE_ID, STATUS
from onestop.workflows.application import ServiceApplicationWorkflow
from onestop.workflows.contracts import (
    DEPARTMENT_STATUSES,
    QUERY_STATE,
    SIGNAL_DEPARTMENT_STATUS,
    TERMINAL,
    ApplicationInput,
    ApplicationView,
    DepartmentStatus,
    IndexEntry,
    InfoResponse,
    OpenInput,
    Status,
    StepAction,
    StepAnswers,
    StepUpProof,
    Update,
    Withdraw,
)
from onestop.workflows.interpreter import Applicant, FieldError
from onestop.workflows.snapshot import ServiceSnapshot

UpdateInput = StepAnswers | StepAction | StepUpProof | Withdraw | InfoResponse
"""What a citizen action sends to the workflow."""

SnapshotSource = Callable[[str], ServiceSnapshot | None]
"""The current pinned definition of a service by slug (None when the catalogue has no such service)."""

APPROVER_ROLE = "approver"
"""The staff role that may decide an application; caseworkers move it on (IN_REVIEW, NEEDS_INFO)."""
DECISIONS = frozenset({Status.APPROVED, Status.REJECTED})


class ApplicationRefused(EngineError):
    """The workflow refused an action; ``errors`` say which answers and why (nothing was changed)."""

    code = "INVALID_INPUT"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        first = errors[0] if errors else FieldError([], "INVALID_INPUT", {"en": "invalid input"})
        super().__init__(first.code, first.message.get("en", "invalid input"), first.path)
        self.errors = list(errors)


_STAFF_VISIBLE = (Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED,
                  Status.WITHDRAWN)


def application_id_for(citizen_ref: str, service_id: str, client_mutation_id: str | None) -> str:
    """Same citizen + service + client mutation id → same workflow id, so concurrent starts give one application.

    Hashed so the id reveals neither the citizen reference nor anything the client chose.
    """
    if client_mutation_id is None:
        return f"app-{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{citizen_ref}\x1f{service_id}\x1f{client_mutation_id}".encode()).hexdigest()
    return f"app-{digest[:32]}"


@dataclass(frozen=True)
class IndexedApplication:
    application_id: str
    service_id: str
    department: str
    status: str
    reference_number: str | None
    created_at: datetime
    updated_at: datetime


class ApplicationService:
    events: EventSink = NO_EVENTS
    # Face step-up locks set by the anomaly detector; None where no detector runs (unit tests, tools).
    alerts: SecurityAlerts | None = None

    def __init__(self, client: Client, task_queue: str, database: Database, snapshots: SnapshotSource,
                 ladder: AssuranceLadder | None = None, *, history_limit: int = 0) -> None:
        self.client = client
        self.task_queue = task_queue
        self.database = database
        self.snapshots = snapshots
        self.ladder = ladder
        self.history_limit = history_limit
        self.refs: dict[str, str] = {}  # subject -> pseudonymous citizen reference

    # ---- citizen actions ----

    async def start(self, citizen_ref: str, citizen: Applicant, service_slug: str,
                    client_mutation_id: str | None = None) -> ApplicationView:
        snapshot = self.snapshots(service_slug)
        if snapshot is None:
            raise NotFound("service", service_slug)
        if not citizen.logged_in and snapshot.eligibility_when and "citizen.age" in snapshot.eligibility_when:
            # Without a login the age is unknown; saying "not eligible" would be wrong for most people.
            raise ApplicationRefused([FieldError(["serviceSlug"], "LOGIN_REQUIRED", {
                "en": "This service checks your age, which needs a login: log in and start again.",
                "tc": "此服務需要核實你的年齡，請先登入再開始申請。"})])
        application_id = application_id_for(citizen_ref, snapshot.id, client_mutation_id)
        now = datetime.now(UTC)
        operation = WithStartWorkflowOperation(
            ServiceApplicationWorkflow.run,
            ApplicationInput(application_id, snapshot, citizen_ref, citizen, now, history_limit=self.history_limit),
            id=application_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(SERVICE_ID, snapshot.id), SearchAttributePair(CITIZEN_REF, citizen_ref),
                SearchAttributePair(STATUS, Status.DRAFT.value), SearchAttributePair(DEPARTMENT, snapshot.department),
            ]),
        )
        view: ApplicationView = await self.client.execute_update_with_start_workflow(
            Update.OPEN, OpenInput(client_mutation_id), start_workflow_operation=operation,
            result_type=ApplicationView,
        )
        await record(self.database, IndexEntry(
            application_id, citizen_ref, snapshot.id, snapshot.department, view.status,
            view.reference_number, view.created_at, view.updated_at,
        ))
        return view

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

    async def get(self, application_id: str, citizen_ref: str) -> ApplicationView:
        view = await self._query(application_id)
        if view.citizen_ref != citizen_ref:
            raise NotFound("application", application_id)
        return view

    async def submit_step(self, application_id: str, citizen_ref: str, step_id: str, answers: dict[str, Any],
                          client_mutation_id: str | None = None) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.SUBMIT_STEP,
                                  StepAnswers(step_id, answers, client_mutation_id, citizen_ref), client_mutation_id)

    async def grant_consent(self, application_id: str, citizen_ref: str, step_id: str,
                            client_mutation_id: str | None = None) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.GRANT_CONSENT,
                                  StepAction(step_id, client_mutation_id, citizen_ref), client_mutation_id)

    async def decline_consent(self, application_id: str, citizen_ref: str, step_id: str,
                              client_mutation_id: str | None = None) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.DECLINE_CONSENT,
                                  StepAction(step_id, client_mutation_id, citizen_ref), client_mutation_id)

    async def go_back(self, application_id: str, citizen_ref: str, step_id: str,
                      client_mutation_id: str | None = None) -> ApplicationView:
        return await self._update(application_id, citizen_ref, Update.GO_BACK,
                                  StepAction(step_id, client_mutation_id, citizen_ref), client_mutation_id)

    async def withdraw(self, application_id: str, citizen_ref: str,
                       client_mutation_id: str | None = None) -> ApplicationView:
        try:
            return await self._update(application_id, citizen_ref, Update.WITHDRAW,
                                      Withdraw(client_mutation_id, citizen_ref), client_mutation_id)
        except ApplicationRefused as exc:
            if exc.code != "APPLICATION_CLOSED":
                raise
            view = await self.get(application_id, citizen_ref)
            raise ApplicationRefused([FieldError([], "NOT_WITHDRAWABLE", {
                "en": f"The application is {view.status}; it can no longer be withdrawn.",
                "tc": f"申請狀態為 {view.status}，已不能撤回。"})]) from exc

    async def respond(self, application_id: str, citizen_ref: str, message: str,
                      client_mutation_id: str | None = None) -> ApplicationView:
        """The citizen's reply to a NEEDS_INFO request: on the timeline, and the application is IN_REVIEW again."""
        try:
            return await self._update(application_id, citizen_ref, Update.RESPOND,
                                      InfoResponse(message, client_mutation_id, citizen_ref), client_mutation_id)
        except ApplicationRefused as exc:
            if exc.code != "APPLICATION_CLOSED":
                raise
            view = await self.get(application_id, citizen_ref)
            raise ApplicationRefused([FieldError([], "NOT_AWAITING_INFO", {
                "en": f"The application is {view.status}; there is no request to reply to.",
                "tc": f"申請狀態為 {view.status}；沒有需要回覆的要求。"})]) from exc

    async def complete_step_up(self, application_id: str, principal: Principal, citizen_ref: str, step_id: str,
                               client_mutation_id: str | None = None, *, now: datetime | None = None
                               ) -> ApplicationView:
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
        proof = StepUpProof(step_id, reached.id if reached else principal.acr, principal.auth_time,
                            client_mutation_id, citizen_ref, principal.txn or "")
        try:
            view = await self._update(application_id, citizen_ref, Update.COMPLETE_STEP_UP, proof,
                                      client_mutation_id)
            self.events.record(EventKind.STEP_UP_PASSED, citizen_ref=citizen_ref, service=view.service_id,
                               acr=principal.acr)
            return view
        except ApplicationRefused as refused:
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
                binding=step_up_binding(application_id, step_id) if ladder.top.id == level else None,
            )
            raise

    async def list_for_citizen(self, citizen_ref: str, *, status: str | None = None, limit: int = 100,
                               offset: int = 0) -> list[IndexedApplication]:
        query = select(ApplicationRow).where(ApplicationRow.citizen_ref == citizen_ref)
        return await self._list(query, status, limit, offset)

    # ---- department side ----

    async def department_inbox(self, principal: Principal, *, status: str | None = None, limit: int = 100,
                               offset: int = 0) -> list[IndexedApplication]:
        department = self._staff_department(principal)
        query = select(ApplicationRow).where(
            ApplicationRow.department == department,
            ApplicationRow.status.in_([s.value for s in _STAFF_VISIBLE]),
            ApplicationRow.reference_number.is_not(None),  # drafts withdrawn unsent stay private
        )
        return await self._list(query, status, limit, offset)

    async def get_for_staff(self, principal: Principal, application_id: str) -> ApplicationView:
        department = self._staff_department(principal)
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
            raise ApplicationRefused([FieldError(["status"], "INVALID_STATUS", {
                "en": f"Staff can set IN_REVIEW, NEEDS_INFO, APPROVED or REJECTED, not {status}."})])
        if target in DECISIONS and APPROVER_ROLE not in principal.roles:
            raise ApplicationRefused([FieldError(["status"], "APPROVER_REQUIRED", {
                "en": f"An approver must decide: only staff with the '{APPROVER_ROLE}' role may set {target.value}; "
                      "a caseworker may set IN_REVIEW or NEEDS_INFO.",
                "tc": f"須由審批人員決定：只有具「{APPROVER_ROLE}」角色的職員可設為 {target.value}；"
                      "個案處理人員可設為 IN_REVIEW 或 NEEDS_INFO。",
                "sc": f"须由审批人员决定：只有具“{APPROVER_ROLE}”角色的职员可设为 {target.value}；"
                      "个案处理人员可设为 IN_REVIEW 或 NEEDS_INFO。"})])
        if Status(view.status) in TERMINAL:
            raise ApplicationRefused([FieldError(["status"], "INVALID_TRANSITION", {
                "en": f"The application is already {view.status}; it cannot change."})])
        if target is Status.NEEDS_INFO and not message:
            raise ApplicationRefused([FieldError(["message"], "REQUIRED", {
                "en": "Say what information is needed."})])
        handle = self.client.get_workflow_handle(application_id)
        before = len(view.timeline)
        await handle.signal(SIGNAL_DEPARTMENT_STATUS, DepartmentStatus(target.value, message, principal.sub))
        # A signal has no answer; wait briefly until the workflow has applied it so the caller sees it.
        for _ in range(50):
            view = await self._query(application_id)
            if len(view.timeline) > before:
                break
            await asyncio.sleep(0.1)
        await self._index(view)
        self.events.record(EventKind.STAFF_DECISION, staff=principal.sub, citizen_ref=view.citizen_ref,
                           service=view.service_id, outcome=target.value)
        return view

    def _staff_department(self, principal: Principal) -> str:
        # Operators handle security alerts platform-wide; that role alone opens no department's applications.
        if not principal.is_staff or principal.department is None or set(principal.roles) <= {OPERATOR_ROLE}:
            raise Forbidden("this needs a department staff sign-in with a staff role")
        return principal.department

    # ---- plumbing ----

    async def _list(self, query: Any, status: str | None, limit: int, offset: int) -> list[IndexedApplication]:
        if status is not None:
            query = query.where(ApplicationRow.status == status)
        query = query.order_by(ApplicationRow.created_at.desc(), ApplicationRow.application_id)
        async with self.database.session() as session:
            rows = await session.scalars(query.limit(limit).offset(offset))
            return [IndexedApplication(r.application_id, r.service_id, r.department, r.status, r.reference_number,
                                       r.created_at, r.updated_at) for r in rows]

    async def _query(self, application_id: str) -> ApplicationView:
        try:
            view: ApplicationView = await self.client.get_workflow_handle(application_id).query(
                QUERY_STATE, result_type=ApplicationView)
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise NotFound("application", application_id) from exc
            raise
        return view

    async def _update(self, application_id: str, citizen_ref: str, name: str, arg: UpdateInput,
                      client_mutation_id: str | None) -> ApplicationView:
        """Send an update; the workflow's validator checks ownership, so no query round trip comes first."""
        handle = self.client.get_workflow_handle(application_id)
        # Temporal answers a repeated update id with the first outcome without validating again: the id binds
        # the caller too, so someone else's retry of the same client mutation id is validated afresh.
        update_id = None
        if client_mutation_id is not None:
            digest = hashlib.sha256(f"{citizen_ref}\x1f{client_mutation_id}".encode()).hexdigest()[:32]
            update_id = f"{name}:{digest}"
        try:
            view: ApplicationView = await handle.execute_update(name, arg, id=update_id,
                                                                result_type=ApplicationView)
        except WorkflowUpdateFailedError as exc:
            refused = _refused(exc)
            if isinstance(refused, ApplicationRefused) and refused.code == "NOT_FOUND":
                raise NotFound("application", application_id) from exc
            raise refused from exc
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            if "already completed" not in exc.message:
                raise NotFound("application", application_id) from exc
            await self.get(application_id, citizen_ref)  # a closed application of someone else stays unknown
            raise ApplicationRefused([FieldError([], "APPLICATION_CLOSED", {
                "en": "This application is closed and cannot change.", "tc": "此申請已結束，無法更改。"})]) from exc
        if view.status not in (Status.DRAFT.value, Status.SUBMITTED.value):  # the workflow indexed a submission
            await self._index(view)
        return view

    async def _index(self, view: ApplicationView) -> None:
        # The workflow indexes status changes itself, just after answering; writing here too means the caller's
        # next list already shows what this action did (the upsert keeps the newest).
        await record(self.database, IndexEntry(
            view.application_id, view.citizen_ref, view.service_id, view.department, view.status,
            view.reference_number, view.created_at, view.updated_at,
        ))


def step_up_binding(application_id: str, step_id: str) -> str:
    """The ``txn`` a face-verified token must carry to complete this step of this application."""
    return f"{application_id}:{step_id}"


def _refused(exc: WorkflowUpdateFailedError) -> EngineError:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.details:
        raw = cause.details[0]
        errors = [FieldError(list(e["path"]), e["code"], dict(e["message"])) for e in raw]
        return ApplicationRefused(errors)
    return EngineError("UPDATE_FAILED", "the application could not be updated; try again")


class CatalogueSnapshots:
    """Pinned snapshots of the catalogue's current services, built once per content hash."""

    def __init__(self, store: CatalogueStore) -> None:
        self._store = store
        self._cache: dict[str, ServiceSnapshot] = {}

    def __call__(self, slug: str) -> ServiceSnapshot | None:
        from onestop.workflows.compile import snapshot_from_service

        catalogue = self._store.catalogue
        service = catalogue.service(slug)
        if service is None:
            return None
        key = f"{catalogue.version}:{service.content_hash}"
        cached = self._cache.get(key)
        if cached is None:
            department = catalogue.departments.get(service.department)
            submission = getattr(department, "submission", None)
            cached = self._cache[key] = snapshot_from_service(
                service,
                assurance_levels=[level.id for level in catalogue.taxonomy.assurance_levels],
                submission_url=getattr(submission, "url", None),
            )
        return cached
