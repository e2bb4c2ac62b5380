"""``ServiceApplicationWorkflow``: one citizen's application, guided through a pinned service definition."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from onestop.catalogue import StepKind
    from onestop.catalogue.functions import PLACEHOLDER, display
    from onestop.catalogue.notices import NoticeEvent
    from onestop.workflows import interpreter as interp
    from onestop.workflows import payments as pay
    from onestop.workflows import provenance as prov
    from onestop.workflows.appointments import RELEASED_WHEN, Appointments
    from onestop.workflows.contracts import (
        BRIEF_BEHAVIOUR,
        CITIZEN_ACTOR,
        CITIZEN_REF_ATTRIBUTE,
        DELIVERY_RETRY_DEFAULT,
        DEPARTMENT_STATUSES,
        LEAN_BEHAVIOUR,
        MESSAGE_MAX_CHARS,
        NEWEST_BEHAVIOUR,
        OUTBOX_BEHAVIOUR,
        QUERY_SNAPSHOT,
        QUERY_STATE,
        REFUSED,
        SIGNAL_ACTING_ENDED,
        SIGNAL_ACTING_TERM,
        SIGNAL_DEPARTMENT_STATUS,
        STATUS_ATTRIBUTE,
        TERMINAL,
        TIMELINE_MAX_ENTRIES,
        WITHDRAWABLE,
        WORKFLOW_NAME,
        ActingEnd,
        ActingEnded,
        ActingTerm,
        ActionResult,
        Activity,
        ApplicationInput,
        ApplicationView,
        BookAppointment,
        Booking,
        Carried,
        Changes,
        ConsentGrantRequest,
        ConsentGrantResult,
        DeliveryReceipt,
        DepartmentStatus,
        IndexEntry,
        InfoResponse,
        NoticeRequest,
        NoticeResult,
        OpenInput,
        PrefillRequest,
        PrefillResult,
        Redeliver,
        ReferenceRequest,
        Status,
        StepAction,
        StepAnswers,
        StepOutline,
        StepState,
        StepUpProof,
        Submission,
        TimelineEntry,
        Update,
        Withdraw,
    )
    from onestop.workflows.interpreter import FieldError, Prefilled, Progress
    from onestop.workflows.payments import BeginPayment, PaymentAttempt, PaymentOutcome, PaymentStatus
    from onestop.workflows.snapshot import (
        AppointmentSpec,
        ConsentSpec,
        ExitSpec,
        PaymentSpec,
        PrefillSpec,
        ServiceSnapshot,
        StepSpec,
        StepUpSpec,
        SubmitSpec,
        Text,
        fields_of,
    )

_SHORT = timedelta(seconds=30)
# I/O activities heartbeat every half second: a worker killed mid-attempt is noticed after this long, and the
# attempt retried on another worker, instead of after the whole start-to-close timeout.
_HEARTBEAT = timedelta(seconds=3)
# A prefill the citizen waits for: retry soon, a few times, then let the citizen retry or type the data.
_PREFILL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=5), maximum_attempts=5)
# Delivery retries with backoff for the application's delivery window (24 h unless the engine says otherwise): a
# department down for a while delays a submission, never loses it; one down for longer needs an operator.
_DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                              maximum_interval=timedelta(minutes=10))
# A payment the citizen waits for (creating the hosted page): a few quick retries, then they may try again.
_PAYMENT_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=5), maximum_attempts=5)
# Cancelling and refunding nobody waits for: retried for as long as a delivery is.
_MONEY_WINDOW = timedelta(hours=24)
# A notice retries for a day (an SMTP relay down for the night delays it, never loses it), then is given up:
# the timeline stays the record. Its idempotency key makes every retry the same notice.
_NOTICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                            maximum_interval=timedelta(minutes=10))
_NOTICE_WINDOW = timedelta(hours=24)
NOTICES_PATCH = "notices"
ACTING_PATCH = "acting-ends"
# An acting term given (or changed) by signal, and an end signalled to an application started before terms.
ACTING_TERMS_PATCH = "acting-terms"
# What the timeline says when the actor's right ends and the application becomes the subject's.
_HANDED_OVER = {
    ActingEnd.ADULT: "The person this application is for has turned 18: it is now theirs to continue",
    ActingEnd.EXPIRED: "The mandate it was started under has ended: it is now the grantor's to continue",
    ActingEnd.REVOKED: "The mandate it was started under was revoked: it is now the grantor's to continue",
    ActingEnd.GUARDIANSHIP: "The guardianship it was started under has ended: it is now the ward's to continue",
}
_HKT = timedelta(hours=8)
_MAX_MUTATIONS = 200
# A local activity's failure reaches the workflow as the activity's own error (or a timeout), not wrapped in an
# ActivityError as a scheduled activity's is.
_PREFILL_FAILURES = (ActivityError, ApplicationError, ActivityTimeoutError)


def _refuse(*errors: FieldError) -> ApplicationError:
    return ApplicationError(
        errors[0].message.get("en", "invalid input") if errors else "invalid input",
        [asdict(e) for e in errors],
        type=REFUSED,
        non_retryable=True,
    )


def _failure(exc: ActivityError) -> str:
    # The innermost cause says what the department answered (an HTTP status) or that the window ran out.
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return f"Delivery to the department failed: {cause}"[:MESSAGE_MAX_CHARS]


def _error(path: str, code: str, en: str, tc: str) -> FieldError:
    return FieldError([path] if path else [], code, {"en": en, "tc": tc})


_DEFINITION_ERROR = _error(
    "", "DEFINITION_ERROR",
    "This service's definition has a fault, so your answers cannot be checked right now. Nothing was saved; "
    "the fault has been logged for the department. Try again later.",
    "此服務的設定有錯誤，暫時未能核對你的答案。答案未有儲存；錯誤已記錄並轉交部門。請稍後再試。")


_KINDS = {kind.value: kind for kind in StepKind}


@dataclass
class _Derived:
    """The current step and the applicable steps of one progress on one day, each computed once when first read."""

    progress: Progress
    today: date
    current: StepSpec | None = None
    has_current: bool = False
    applicable: set[str] | None = None


@dataclass(frozen=True)
class _DryRun:
    """A validator's dry run: the progress it started from (copied) and what it derived from it."""

    today: date
    completed: list[str]
    answers: dict[str, Any]
    prefilled: dict[str, Prefilled]
    derived: _Derived

    def reaches(self, today: date, completed: list[str], progress: Progress) -> bool:
        """Whether completing to ``completed`` from ``progress`` today starts where the dry run started."""
        return (self.today == today and self.completed == completed and self.answers == progress.answers
                and self.prefilled == progress.prefilled)


@dataclass(frozen=True)
class _Checked:
    """A submitStep validator's accepted answers and the progress it checked them against (copied)."""

    action: StepAnswers
    today: date
    answers: dict[str, Any]
    prefilled: dict[str, Prefilled]
    accepted: dict[str, Any]

    def holds(self, action: StepAnswers, today: date, progress: Progress) -> bool:
        """Whether the handler checks the same answers against the same progress: checking again gives ``accepted``
        (the handler's unbounded check normalises as the validator's bounded one; bounds only add errors)."""
        return (self.action == action and self.today == today and self.answers == progress.answers
                and self.prefilled == progress.prefilled)


@workflow.defn(name=WORKFLOW_NAME)
class ServiceApplicationWorkflow:
    @workflow.init
    def __init__(self, params: ApplicationInput) -> None:
        self._in = params
        if params.service is None:
            # The engine's payload converter puts a pinned snapshot back into the input before this runs; a worker
            # that could not fails the task (not the workflow), and the task is retried.
            raise RuntimeError(f"the pinned snapshot {params.service_ref!r} was not resolved")
        if params.behaviour > NEWEST_BEHAVIOUR:
            # Started by a newer engine than this worker: fail the task, not the workflow, so that it is retried
            # until a worker that knows this behaviour takes it (this one would record other commands).
            raise RuntimeError(f"behaviour {params.behaviour} is newer than this worker knows ({NEWEST_BEHAVIOUR})")
        self._snapshot = params.service
        carried = params.carried
        # Whose application it is: the applicant's, until someone acting for another hands it over (see acting).
        self._owner = params.citizen_ref
        self._acting = params.acting
        self._acting_changed = False  # a new term arrived by signal: wait again with its end
        self._status = carried.status if carried else Status.DRAFT
        self._progress = (
            Progress(list(carried.completed), dict(carried.answers), dict(carried.prefilled)) if carried else Progress()
        )
        self._consents: dict[str, str] = dict(carried.consents) if carried else {}
        self._timeline: list[TimelineEntry] = list(carried.timeline) if carried else []
        self._reference: str | None = carried.reference_number if carried else None
        self._delivered = carried.delivered if carried else False
        self._mutations: list[str] = list(carried.mutations) if carried else []
        self._created_at = carried.created_at if carried else params.created_at
        self._noticed: list[str] = list(carried.noticed) if carried else []
        self._notices_pending: list[NoticeRequest] = []
        self._sending = 0
        self._appointments = Appointments(params.application_id, params.service.id, params.citizen_ref,
                                          list(carried.bookings) if carried else [], self._remind_appointment)
        self._updated_at = workflow.now()
        # A delivery that failed waits for an operator's redelivery, also in the next run.
        self._deliver_pending = bool(self._reference) and not self._delivered \
            and self._status is not Status.DELIVERY_FAILED
        self._step_up_assurance = params.citizen.assurance
        self._exit_message: Text | None = None
        # True while an update waits on an activity; other step actions are refused until it finishes.
        self._busy = False
        self._opened = False  # whether an open update was handled in this run (see open)
        # Fees: every attempt (carried over continue-as-new), the provider's outcomes not yet applied, and the paid
        # attempts to refund (payment id -> why). Applications without a payment step never touch these.
        self._payments: list[PaymentAttempt] = list(carried.payments) if carried else []
        self._outcomes: list[PaymentOutcome] = []
        self._refunds: dict[str, str] = {}
        self._waiting_on: PaymentAttempt | None = None  # the open payment the main loop's current wait knows of
        # Typed numbers, definition faults instead of "false", entry scope, blank text refused, exits that can be
        # left by going back. Decided once per run, at its first task: a run recorded before this reads answers
        # and expressions as it did then, for its whole life.
        # Fewer events per application: the engine indexes a new draft as it starts it, so the workflow no longer
        # indexes it too, and prefill runs as a local activity (its retries are seconds apart, within the
        # workflow task). Decided by the input (see ApplicationInput.behaviour), not by a patch: runs started
        # before it carry 0 and index at the start and schedule prefill as an activity, as recorded. It implies
        # every patch before it, whose markers are then not recorded either.
        self._lean = params.behaviour >= LEAN_BEHAVIOUR
        self._strict = self._lean or workflow.patched("trustworthy-answers")
        # Answers the citizen's step actions with an ActionResult; decided by the input, as above. Update results
        # are not replayed, so this changes no command of any recorded history either way.
        self._brief = params.behaviour >= BRIEF_BEHAVIOUR
        # Notices go to the engine's outbox from a local activity the run makes anyway (or one of their own): no
        # send_notice activity, no "notices" patch marker. Decided by the input, as above.
        self._outbox = params.behaviour >= OUTBOX_BEHAVIOUR
        self._index_dirty = carried is None and not self._lean
        self._fault: interp.DefinitionFault | None = None
        self._derived: _Derived | None = None
        self._dry: _DryRun | None = None
        self._checked: _Checked | None = None
        if carried is None:
            # Decided here, not in run(): the first update (update-with-start) is handled before run() starts.
            try:
                problem = interp.eligibility_error(self._snapshot, params.citizen, self._today(),
                                                   strict=self._strict)
                step = self._current()
            except interp.DefinitionFault as fault:
                # Refused by the open update's validator; the draft then simply expires.
                self._fault, problem, step = fault, None, None
            status = Status.DRAFT if problem is None else Status.NOT_ELIGIBLE
            self._status = status
            self._exit_message = problem.message if problem else None
            self._timeline.append(TimelineEntry(workflow.now(), status,
                                                problem.message.get("en") if problem else None))
            if status is Status.DRAFT and isinstance(step, ExitSpec) and not self._strict:
                self._status = Status.NOT_ELIGIBLE
                self._exit_message = step.message

    # ---- state helpers ----

    def _today(self) -> date:
        return workflow.now().date()

    def _memo(self) -> _Derived:
        """What the interpreter derived from the progress as it is today (the progress is replaced, never changed in
        place, when an action changes it); a validator and its handler, and the answer, read it several times."""
        today = self._today()
        memo = self._derived
        if memo is None or memo.progress is not self._progress or memo.today != today:
            memo = self._derived = _Derived(self._progress, today)
        return memo

    def _current(self) -> StepSpec | None:
        if self._fault is not None:
            return None
        memo = self._memo()
        if not memo.has_current:
            memo.current = interp.current_step(self._snapshot, self._progress, self._in.citizen, memo.today,
                                               strict=self._strict)
            memo.has_current = True
        return memo.current

    def _applicable(self) -> set[str]:
        memo = self._memo()
        if memo.applicable is None:
            memo.applicable = {s.id for s in interp.applicable_steps(self._snapshot, self._progress, self._in.citizen,
                                                                     memo.today, strict=self._strict)}
        return memo.applicable

    def _computed(self) -> dict[str, Any]:
        if not self._snapshot.computed or self._fault is not None:
            return {}
        try:
            return interp.computed_values(self._snapshot, self._progress, self._in.citizen, self._today())
        except interp.DefinitionFault:
            return {}  # the actions that evaluate it refuse with DEFINITION_ERROR; the view still renders

    def _message(self, step: ExitSpec) -> Text:
        # Snapshots without computed values show their messages exactly as written (recorded histories included).
        return interp.interpolate(step.message, self._computed())

    def _view(self) -> ApplicationView:
        step = self._current() if self._status is Status.DRAFT else None
        # A draft on an exit page shows why; the citizen may still go back and change the answer that led there.
        exit_message = self._message(step) if isinstance(step, ExitSpec) else self._exit_message
        return ApplicationView(
            application_id=self._in.application_id,
            service_id=self._snapshot.id,
            service_version=self._snapshot.version,
            content_hash=self._snapshot.content_hash,
            department=self._snapshot.department,
            citizen_ref=self._owner,
            status=self._status,
            current_step_id=step.id if step else None,
            completed=list(self._progress.completed),
            answers=dict(self._progress.answers),
            prefilled=dict(self._progress.prefilled),
            consents=dict(self._consents),
            timeline=list(self._timeline),
            reference_number=self._reference,
            delivered=self._delivered,
            created_at=self._created_at,
            updated_at=self._updated_at,
            exit_message=exit_message,
            # The step's definition and the steps' titles are in the pinned snapshot the engine keeps by content
            # hash; sending them with every answer multiplied the history's size several times.
            current_step=None,
            outline=self._outline(step),
            assurance=self._snapshot.assurance,
            provenance=prov.provenance(self._snapshot, self._progress, self._in.citizen, self._today()),
            computed=self._computed(),
            payments=list(self._payments),
            amount_due_cents=self._amount_due(step),
            bookings=self._appointments.all(),
        )

    def _answer(self) -> ApplicationView | ActionResult:
        """A citizen action's answer: brief while the application is a draft or just submitted (the engine renders
        the rest from the pinned snapshot); the whole view otherwise, and for runs started before briefs."""
        if not self._brief or self._status not in (Status.DRAFT, Status.SUBMITTED):
            return self._view()
        step = self._current() if self._status is Status.DRAFT else None
        if isinstance(step, PaymentSpec):
            return self._view()  # the amount due is computed here, from answers the engine does not render
        own = {spec.id for spec in fields_of(step)} if step is not None else set()
        return ActionResult(
            status=self._status,
            current_step_id=step.id if step else None,
            steps="".join(entry.state.value[0] for entry in self._outline(step)),
            answers={k: v for k, v in self._progress.answers.items() if k in own},
            prefilled={k: v for k, v in self._progress.prefilled.items() if k in own},
            reference_number=self._reference,
            exit_message=self._message(step) if isinstance(step, ExitSpec) else self._exit_message,
        )

    def _amount_due(self, step: StepSpec | None) -> int | None:
        if not isinstance(step, PaymentSpec):
            return None
        try:
            return pay.amount_cents(self._snapshot, step, self._progress.answers, self._in.citizen, self._today())
        except (interp.DefinitionFault, pay.AmountFault):
            return None  # beginPayment refuses with DEFINITION_ERROR; the view still renders

    def _outline(self, current: StepSpec | None) -> list[StepOutline]:
        applicable = set() if self._fault is not None else self._applicable()
        done = set(self._progress.completed)

        def state(step: StepSpec) -> StepState:
            if step.id in done:
                return StepState.DONE
            if current is not None and step.id == current.id:
                return StepState.CURRENT
            return StepState.TODO if step.id in applicable else StepState.SKIPPED

        return [StepOutline(s.id, _KINDS[s.type], {}, state(s)) for s in self._snapshot.steps
                if not isinstance(s, ExitSpec) or (current is not None and s.id == current.id)]

    def _require_owner(self, citizen_ref: str) -> None:
        # Validators only (they do not run on replay): histories recorded before this field existed still replay.
        if citizen_ref != self._owner:
            raise _refuse(_error("applicationId", "NOT_FOUND", "No such application.", "沒有此申請。"))

    def _require_assurance(self, assurance: str) -> None:
        # Validators only: the token is checked on every action, not just at the start, so a session downgraded
        # after starting cannot carry on. Empty means the engine acts without a token (see the contracts).
        required = self._snapshot.assurance
        if assurance and self._snapshot.rank(assurance) < self._snapshot.rank(required):
            raise _refuse(_error("assurance", "INSUFFICIENT_USER_AUTHENTICATION",
                                 f"This service needs assurance level {required!r}; sign in again at that level.",
                                 f"此服務需要 {required!r} 級別的身份認證，請以該級別重新登入。"))

    def _seen(self, client_mutation_id: str | None) -> bool:
        return client_mutation_id is not None and client_mutation_id in self._mutations

    def _remember(self, client_mutation_id: str | None) -> None:
        if client_mutation_id is not None:
            self._mutations.append(client_mutation_id)
            del self._mutations[:-_MAX_MUTATIONS]

    def _set_status(self, status: Status, message: str | None = None, actor: str | None = None, *,
                    reindex: bool = True) -> None:
        self._status = status
        self._timeline.append(TimelineEntry(workflow.now(), status, message, actor))
        self._index_dirty = self._index_dirty or reindex
        workflow.upsert_search_attributes([STATUS_ATTRIBUTE.value_set(status.value)])

    def _touch(self) -> None:
        self._updated_at = workflow.now()
        if self._strict:
            return  # an exit page keeps the draft open: the citizen may go back, or close it
        step = self._current()
        if isinstance(step, ExitSpec) and self._status is Status.DRAFT:
            self._exit_message = self._message(step)
            self._set_status(Status.NOT_ELIGIBLE)

    def _at_exit(self) -> ExitSpec | None:
        step = self._current() if self._strict and self._status is Status.DRAFT else None
        return step if isinstance(step, ExitSpec) else None

    def _close(self, otherwise: Status, actor: str | None = None) -> None:
        """End the draft: as not eligible on an exit page (that is the outcome the citizen saw), else ``otherwise``."""
        exit_step = self._at_exit()
        if exit_step is not None:
            self._exit_message = self._message(exit_step)
            self._set_status(Status.NOT_ELIGIBLE, self._exit_message.get("en"), actor)
        else:
            self._set_status(otherwise, actor=actor)

    def _dry_run(self, progress: Progress) -> None:
        """Evaluate every expression the handler will, on the state it would reach; refuse on a definition fault.

        Validators run before history is written, so a fault found here leaves the application as it was.
        """
        today = self._today()
        try:
            pruned = interp.prune(self._snapshot, progress, self._in.citizen, today, strict=self._strict)
            current = interp.current_step(self._snapshot, pruned, self._in.citizen, today, strict=self._strict)
            applicable = interp.applicable_steps(self._snapshot, pruned, self._in.citizen, today, strict=self._strict)
        except interp.DefinitionFault as fault:
            raise self._refuse_fault(fault) from fault
        # The handler runs next, in this activation, and usually reaches this very state: see _complete.
        self._dry = _DryRun(today, list(progress.completed), dict(progress.answers), dict(progress.prefilled),
                            _Derived(pruned, today, current, True, {s.id for s in applicable}))

    def _refuse_fault(self, fault: interp.DefinitionFault) -> ApplicationError:
        workflow.logger.error(
            "definition fault in service %s version %s (%s): expression %r failed: %s",
            self._snapshot.id, self._snapshot.version, self._snapshot.content_hash, fault.expression, fault.detail,
            extra={"service_id": self._snapshot.id, "service_version": self._snapshot.version,
                   "expression": fault.expression},
        )
        return _refuse(_DEFINITION_ERROR)

    def _require_idle(self) -> None:
        if self._busy:
            raise _refuse(_error("", "BUSY", "Another action on this application is still running; try again.",
                                 "此申請的另一項操作仍在進行，請稍後再試。"))

    def _require_current(self, step_id: str, *kinds: StepKind) -> StepSpec:
        if self._status is not Status.DRAFT:
            raise _refuse(_error("", "NOT_A_DRAFT", f"The application is {self._status.value} and cannot change.",
                                 f"申請狀態為 {self._status.value}，無法更改。"))
        step = self._current()
        if step is None or step.id != step_id:
            current = step.id if step else "none"
            raise _refuse(_error("stepId", "NOT_CURRENT_STEP",
                                 f"Step {step_id!r} is not the current step (the current step is {current!r}).",
                                 f"步驟 {step_id!r} 並非目前步驟（目前步驟為 {current!r}）。"))
        if step.type not in kinds:
            raise _refuse(_error("stepId", "WRONG_ACTION",
                                 f"Step {step_id!r} is a {step.type} step; this action does not apply to it.",
                                 f"步驟 {step_id!r} 為 {step.type} 步驟，不適用此操作。"))
        return step

    def _complete(self, step: StepSpec) -> None:
        completed = [*self._progress.completed, step.id]
        dry, self._dry = self._dry, None
        if dry is not None and dry.reaches(self._today(), completed, self._progress):
            # The validator's dry run pruned this same progress (interpretation is pure): its result, not a rerun.
            self._progress, self._derived = dry.derived.progress, dry.derived
            return
        self._progress = interp.prune(
            self._snapshot, Progress(completed, self._progress.answers, self._progress.prefilled),
            self._in.citizen, self._today(), strict=self._strict,
        )

    # ---- fees: new handlers and paths, reached only by snapshots with a payment step ----

    def _pending_payment(self) -> PaymentAttempt | None:
        return next((p for p in self._payments if p.status is PaymentStatus.PENDING), None)

    def _payment_timeout(self) -> timedelta:
        seconds = self._in.payment_timeout_seconds
        return timedelta(seconds=seconds) if seconds > 0 else pay.PAYMENT_TIMEOUT_DEFAULT

    def _require_unpaid_after(self, step_id: str) -> None:
        """Going back must not reopen a payment step: the fee is paid (or being paid) for the answers as they are."""
        ids = [s.id for s in self._snapshot.steps]
        if step_id not in ids or not self._payments:
            return
        target = ids.index(step_id)
        for attempt in self._payments:
            if attempt.status in (PaymentStatus.PAID, PaymentStatus.PENDING) and attempt.step_id in ids \
                    and ids.index(attempt.step_id) >= target:
                if attempt.status is PaymentStatus.PAID:
                    raise _refuse(_error(
                        "stepId", "PAYMENT_MADE",
                        "You have paid the fee, so the answers it was charged for can no longer change; withdraw "
                        "the application instead (a refundable fee is refunded).",
                        "你已繳費，計算費用所依據的答案不能再更改；如需更改，請撤回申請（可退還的費用會退還）。"))
                raise _refuse(_error("stepId", "PAYMENT_IN_PROGRESS",
                                     "A payment is in progress: finish or cancel it on the payment page first.",
                                     "付款正在進行中：請先在付款頁面完成或取消付款。"))

    @workflow.update(name=Update.BEGIN_PAYMENT)
    async def begin_payment(self, action: BeginPayment) -> ApplicationView:
        if self._seen(action.client_mutation_id):
            return self._view()
        step = self._require_current(action.step_id, StepKind.PAYMENT)
        assert isinstance(step, PaymentSpec), "_require_current checked the kind"
        if self._pending_payment() is not None:
            # One open payment page per application: asking again shows the same page, never a second charge.
            self._remember(action.client_mutation_id)
            return self._view()
        amount = pay.amount_cents(self._snapshot, step, self._progress.answers, self._in.citizen, self._today())
        attempt = 1 + sum(1 for p in self._payments if p.step_id == step.id)
        request = pay.CreatePayment(
            application_id=self._in.application_id, step_id=step.id, attempt=attempt, amount_cents=amount,
            currency=step.currency, description=step.description, return_url=action.return_url,
            idempotency_key=f"{self._in.application_id}:{step.id}:{attempt}",
        )
        self._busy = True
        try:
            hosted = await workflow.execute_activity(
                pay.PaymentActivity.CREATE, request, start_to_close_timeout=_SHORT, retry_policy=_PAYMENT_RETRY,
                result_type=pay.HostedPayment,
            )
        except ActivityError as exc:
            raise _refuse(_error("stepId", "PAYMENT_UNAVAILABLE",
                                 "The payment service cannot be reached just now; nothing was charged. Try again.",
                                 "暫時未能連接付款服務；未有收取任何款項。請再試。")) from exc
        finally:
            self._busy = False
        now = workflow.now()
        self._payments.append(PaymentAttempt(
            payment_id=hosted.payment_id, step_id=step.id, attempt=attempt, amount_cents=amount,
            currency=step.currency, status=PaymentStatus.PENDING, url=hosted.url, started_at=now,
            deadline=now + self._payment_timeout(), refundable=step.refundable,
        ))
        self._remember(action.client_mutation_id)
        self._updated_at = now
        return self._view()

    @begin_payment.validator
    def _validate_begin_payment(self, action: BeginPayment) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if self._seen(action.client_mutation_id):
            return
        self._require_idle()
        step = self._require_current(action.step_id, StepKind.PAYMENT)
        assert isinstance(step, PaymentSpec), "_require_current checked the kind"
        try:
            pay.amount_cents(self._snapshot, step, self._progress.answers, self._in.citizen, self._today())
        except interp.DefinitionFault as fault:
            raise self._refuse_fault(fault) from fault
        except pay.AmountFault as fault:
            raise self._refuse_fault(interp.DefinitionFault(step.amount, str(fault))) from fault

    @workflow.signal(name=pay.SIGNAL_PAYMENT_RESULT)
    def payment_result(self, outcome: PaymentOutcome) -> None:
        # Applied by the main loop (which may run activities); a duplicate or late one changes nothing there.
        self._outcomes.append(outcome)

    async def _settle(self, outcome: PaymentOutcome) -> None:
        attempt = next((p for p in self._payments if p.payment_id == outcome.payment_id), None)
        status = pay.SETTLED.get(outcome.result)
        if attempt is None or status is None:
            return
        if attempt.status is not PaymentStatus.PENDING:
            if status is PaymentStatus.PAID and attempt.status in (
                    PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.TIMED_OUT):
                # Money taken on an attempt already closed (the provider answered the cancel wrongly, or late):
                # it is not the application's fee, so it goes back.
                self._mark(attempt, PaymentStatus.PAID, outcome)
                self._refunds[attempt.payment_id] = "the payment arrived after its payment page had closed"
            return  # a duplicate, or news of an attempt already settled: nothing changes
        self._mark(attempt, status, outcome)
        if status is not PaymentStatus.PAID:
            return
        if self._status in TERMINAL:
            self._refunds[attempt.payment_id] = "the application was closed before the payment arrived"
            return
        receipt = await workflow.execute_activity(
            pay.PaymentActivity.RECEIPT,
            pay.ReceiptRequest(
                application_id=self._in.application_id, citizen_ref=self._owner,
                service_id=self._snapshot.id, department=self._snapshot.department, step_id=attempt.step_id,
                description=self._payment_step_description(attempt.step_id), payment_id=attempt.payment_id,
                amount_cents=attempt.amount_cents, currency=attempt.currency,
                paid_at=attempt.settled_at or workflow.now(), method=attempt.method,
                provider_reference=attempt.provider_reference,
            ),
            start_to_close_timeout=_SHORT, heartbeat_timeout=_HEARTBEAT, result_type=pay.Receipt,
        )
        attempt.receipt_id = receipt.receipt_id
        self._timeline.append(TimelineEntry(
            workflow.now(), self._status,
            f"Payment of {pay.dollars(attempt.amount_cents)} received (payment {attempt.payment_id})"))
        step = self._current()
        if isinstance(step, PaymentSpec) and step.id == attempt.step_id:
            self._complete(step)
            self._touch()
        self._payment_received(attempt)

    def _payment_received(self, attempt: PaymentAttempt) -> None:
        """NOTICE HOOK: "payment received". The fee is paid and its receipt signed: the citizen's notice, once per
        payment (snapshots without notices, such as those pinned before them, send none)."""
        self.notify(NoticeEvent.PAYMENT_RECEIVED, {"amount": pay.dollars(attempt.amount_cents)},
                    revision=attempt.payment_id)

    def _payment_step_description(self, step_id: str) -> dict[str, str]:
        step = self._snapshot.step(step_id)
        return dict(step.description) if isinstance(step, PaymentSpec) else dict(self._snapshot.title)

    def _mark(self, attempt: PaymentAttempt, status: PaymentStatus, outcome: PaymentOutcome | None = None) -> None:
        attempt.status = status
        attempt.settled_at = workflow.now()
        if outcome is not None:
            attempt.method = outcome.method or attempt.method
            attempt.provider_reference = outcome.provider_reference or attempt.provider_reference
        self._updated_at = workflow.now()

    async def _close_payment(self, attempt: PaymentAttempt) -> None:
        """The payment page's time is up (or the application closed): cancel it at the provider, which may answer
        that the citizen paid just in time."""
        try:
            result = await workflow.execute_activity(
                pay.PaymentActivity.CANCEL, pay.CancelPayment(attempt.payment_id, f"cancel:{attempt.payment_id}"),
                start_to_close_timeout=_SHORT, schedule_to_close_timeout=_MONEY_WINDOW,
                heartbeat_timeout=_HEARTBEAT, retry_policy=_DELIVERY_RETRY, result_type=pay.ProviderResult,
            )
        except ActivityError:
            result = pay.ProviderResult.EXPIRED  # a late success webhook is refunded (see _settle)
        if result is pay.ProviderResult.SUCCEEDED:
            self._outcomes.append(PaymentOutcome(attempt.payment_id, result, f"cancel:{attempt.payment_id}"))
            return
        if attempt.status is PaymentStatus.PENDING:
            self._mark(attempt, PaymentStatus.TIMED_OUT if result in (pay.ProviderResult.EXPIRED,
                                                                      pay.ProviderResult.PENDING)
                       else pay.SETTLED[result])

    def _queue_refunds(self, reason: str, *, every: bool = False) -> None:
        for attempt in self._payments:
            if attempt.status is PaymentStatus.PAID and (every or attempt.refundable):
                self._refunds.setdefault(attempt.payment_id, reason)

    async def _refund(self, payment_id: str, reason: str) -> None:
        """The compensating step of the fee: give the money back, exactly once (the provider dedupes by key)."""
        attempt = next(p for p in self._payments if p.payment_id == payment_id)
        try:
            result = await workflow.execute_activity(
                pay.PaymentActivity.REFUND,
                pay.RefundPayment(self._in.application_id, payment_id, attempt.amount_cents, reason,
                                  f"refund:{payment_id}"),
                start_to_close_timeout=_SHORT, schedule_to_close_timeout=_MONEY_WINDOW,
                heartbeat_timeout=_HEARTBEAT, retry_policy=_DELIVERY_RETRY, result_type=pay.RefundResult,
            )
        except ActivityError:
            self._refunds.pop(payment_id, None)
            self._mark(attempt, PaymentStatus.REFUND_FAILED)
            self._timeline.append(TimelineEntry(
                workflow.now(), self._status,
                f"Refund of {pay.dollars(attempt.amount_cents)} failed (payment {payment_id}); staff will "
                "follow up"))
            return
        self._refunds.pop(payment_id, None)
        attempt.refund_id = result.refund_id
        self._mark(attempt, PaymentStatus.REFUNDED)
        self._timeline.append(TimelineEntry(
            workflow.now(), self._status,
            f"Fee of {pay.dollars(attempt.amount_cents)} refunded: {reason} (payment {payment_id})"))

    # ---- main loop ----

    @workflow.run
    async def run(self, params: ApplicationInput) -> ApplicationView:
        if self._status is not Status.DRAFT:
            workflow.upsert_search_attributes([STATUS_ATTRIBUTE.value_set(self._status.value)])
        expires_at = self._created_at + timedelta(seconds=self._snapshot.draft_expiry_seconds)
        # Snapshots pinned before notices existed have no reminder, so their timers are the ones recorded.
        reminder = self._snapshot.notice(NoticeEvent.DRAFT_EXPIRING)
        remind_at = expires_at - timedelta(seconds=reminder.before_seconds) \
            if reminder is not None and reminder.before_seconds else None
        while True:
            timeout = None
            reminding = False
            if self._status is Status.DRAFT:
                timeout = max(expires_at - workflow.now(), timedelta(0))
                if remind_at is not None and workflow.now() < remind_at and "draft" not in self._noticed:
                    timeout, reminding = remind_at - workflow.now(), True
            # Only applications holding a booking have a due time, so no recorded history meets this timer.
            due = self._appointments.next_due(self._status)
            if due is not None:
                until = max(due - workflow.now(), timedelta(0))
                if timeout is None or until < timeout:
                    timeout, reminding = until, False
            # Only applications with a payment step have attempts: for every other one the wait is as it was.
            pending = self._pending_payment()
            if pending is not None:
                left = max(pending.deadline - workflow.now(), timedelta(0))
                if timeout is None or left < timeout:
                    timeout, reminding = left, False
            self._waiting_on = pending
            # Only applications started for someone else have an end to the actor's right.
            self._acting_changed = False
            acting_ends = self._acting_ends_at()
            if acting_ends is not None:
                left = max(acting_ends - workflow.now(), timedelta(0))
                if timeout is None or left < timeout:
                    timeout, reminding = left, False
            try:
                await workflow.wait_condition(
                    lambda: self._index_dirty
                    or self._deliver_pending
                    or bool(self._notices_pending)
                    or self._status in TERMINAL
                    or self._history_full()
                    # A booking made, moved or confirmed since: wait again with its due time. (The condition is
                    # checked only within this iteration, so reading the loop's `due` is safe.)
                    or self._appointments.next_due(self._status) != due  # noqa: B023
                    or bool(self._outcomes)
                    or bool(self._refunds)
                    # A payment page opened (or closed) since: wait again, with its deadline.
                    or self._pending_payment() is not self._waiting_on
                    # A new end to the actor's right (only ever set by the actingTerm signal).
                    or self._acting_changed,
                    timeout=timeout,
                )
            except TimeoutError:
                if self._acting is not None and acting_ends is not None and workflow.now() >= acting_ends:
                    self._hand_over(self._acting.reason)
                    continue
                pending = self._pending_payment()
                if pending is not None and workflow.now() >= pending.deadline:
                    await self._close_payment(pending)
                    continue
                if due is not None and due <= workflow.now():
                    if self._busy:
                        # An update is confirming or moving the booking right now: decide after it.
                        await workflow.wait_condition(lambda: not self._busy)
                        continue
                    if await self._appointments_due():
                        continue
                if reminding and self._status is Status.DRAFT:
                    self._noticed.append("draft")
                    self.notify(NoticeEvent.DRAFT_EXPIRING, {"expiresOn": f"{expires_at + _HKT:%Y-%m-%d %H:%M} HKT"},
                                revision="draft")
                elif self._status is Status.DRAFT:
                    self._close(Status.EXPIRED)
                continue
            if self._notices_pending and not self._outbox:
                self._start_notices()
            if self._outcomes:
                await self._settle(self._outcomes.pop(0))
                continue
            if self._refunds:
                await self._refund(*next(iter(self._refunds.items())))
                continue
            pending = self._pending_payment()
            if pending is not None and self._status in TERMINAL:
                await self._close_payment(pending)  # withdrawn or expired with the payment page still open
                continue
            if self._index_dirty or (self._outbox and self._notices_pending):
                await self._record()
                continue
            if self._deliver_pending:
                await self._deliver()
            if self._status in TERMINAL and not self._index_dirty:
                await workflow.wait_condition(self._settled)
                if self._notices_pending:
                    continue  # a handler queued a notice meanwhile: send it first
                if self._appointments:
                    await self._settle_appointments()
                    if self._notices_pending:  # the day-before reminder
                        if self._outbox:
                            await self._record()
                        else:
                            self._start_notices()
                        await workflow.wait_condition(self._settled)
                return self._view()
            # Payment outcomes and refunds not yet applied are not carried: apply them first.
            if self._history_full() and not self._outcomes and not self._refunds:
                await workflow.wait_condition(self._settled)
                if self._notices_pending:
                    continue
                workflow.continue_as_new(self._carry())

    async def _record(self) -> None:
        """Write the index entry (if it changed) and hand the pending notices to the outbox, in one local activity:
        one marker event instead of three activity events plus a task."""
        index, self._index_dirty = self._index_dirty, False
        if not (self._outbox and self._notices_pending):
            # As every run before the outbox recorded it (and a run with nothing to tell but its status).
            await workflow.execute_local_activity(
                Activity.INDEX, self._index_entry(), start_to_close_timeout=_SHORT, result_type=type(None),
            )
            return
        notices, self._notices_pending = self._notices_pending, []
        await workflow.execute_local_activity(
            Activity.RECORD_CHANGES, Changes(self._index_entry() if index else None, notices),
            start_to_close_timeout=_SHORT, result_type=type(None),
        )

    # ---- acting for someone ----

    def _acting_ends_at(self) -> datetime | None:
        """When the actor's right ends, while the application is still theirs and open; None for everyone else."""
        if self._acting is None or self._status in TERMINAL or not workflow.patched(ACTING_PATCH):
            return None
        return self._acting.ends_at

    def _hand_over(self, reason: ActingEnd) -> None:
        """The actor's right has ended: the application becomes the subject's, or (a draft of a service that says
        ``close``) is closed with a notice to them. The actor's next action finds nothing to act on."""
        term = self._acting
        if term is None or self._status in TERMINAL:
            return
        self._acting = None
        self._owner = term.subject_ref
        self._updated_at = workflow.now()
        self._index_dirty = True
        workflow.upsert_search_attributes([CITIZEN_REF_ATTRIBUTE.value_set(term.subject_ref)])
        if term.on_end == "close" and self._status is Status.DRAFT:
            self._set_status(Status.WITHDRAWN, _HANDED_OVER[reason].split(":")[0] + ": the draft was closed")
            self.notify(NoticeEvent.STATUS_CHANGED, {"status": Status.WITHDRAWN.value})
            self._queue_refunds("the draft was closed when acting for its subject ended")
        else:
            self._timeline.append(TimelineEntry(workflow.now(), self._status, _HANDED_OVER[reason]))

    @workflow.signal(name=SIGNAL_ACTING_ENDED)
    def acting_ended(self, ended: ActingEnded) -> None:
        # Sent by the engine when a mandate is revoked or a guardianship ended: hand over now instead of at the end
        # date (if there is one).
        if self._acting is not None and workflow.patched(ACTING_PATCH):
            self._hand_over(ended.reason)
        elif self._stranger(ended.subject_ref) and workflow.patched(ACTING_TERMS_PATCH):
            # Started before it had a term: the signal names the subject instead.
            self._acting = ActingTerm(ended.subject_ref, workflow.now(), ended.reason, ended.on_end)
            self._hand_over(ended.reason)

    @workflow.signal(name=SIGNAL_ACTING_TERM)
    def acting_term(self, term: ActingTerm) -> None:
        # Sent by the engine when the actor's right gets an end date (a guardianship's), or to an application
        # started before it had a term: the durable timer is set (or moved) to the new end.
        if self._acting is not None and self._acting.subject_ref != term.subject_ref:
            return
        if (self._acting is not None or self._stranger(term.subject_ref)) and workflow.patched(ACTING_TERMS_PATCH):
            self._acting = term
            self._acting_changed = True

    def _stranger(self, subject_ref: str) -> bool:
        """An open application whose owner acts for ``subject_ref``, someone else (and has no term yet)."""
        return (self._acting is None and bool(subject_ref) and subject_ref != self._owner
                and self._status not in TERMINAL)

    def _settled(self) -> bool:
        # Runs recorded before notices never have one sending, so this waits exactly as they did.
        return workflow.all_handlers_finished() and self._sending == 0

    # ---- notices ----

    def notify(self, event: NoticeEvent, values: dict[str, str] | None = None, *, revision: str | None = None) -> None:
        """Send the applicant the service's notice for ``event`` (once per ``revision``: by default the timeline's
        length, so each status change is its own notice; a step with its own moments passes e.g. its payment id).

        ``values`` fill the event's own placeholders (``amount``, ``appointment``, ``office`` ...); the reference
        number, the service's title and the computed values the templates name are added here. Nothing else of the
        application leaves with it.
        """
        request = self._notice(event, values, revision=revision)
        if request is not None:
            self._noticed.append(request.key)
            self._notices_pending.append(request)

    def _notice(self, event: NoticeEvent, values: dict[str, str] | None = None, *,
                revision: str | None = None) -> NoticeRequest | None:
        """The notice ``notify`` would send, or None (no such notice, nobody to write to, or sent already)."""
        spec = self._snapshot.notice(event.value)
        contact: dict[str, str] = {}
        if not self._in.citizen.logged_in:
            for channel, field_id in self._snapshot.notice_contact.items():
                answer = self._progress.answers.get(field_id)
                if isinstance(answer, str) and answer.strip():
                    contact[channel] = answer.strip()
        # An anonymous applicant who left no contact has nobody to write to: no activity, no events.
        # Runs with the outbox decide by their input, not by the patch (see __init__).
        if spec is None or (not self._in.citizen.logged_in and not contact) \
                or not (self._outbox or workflow.patched(NOTICES_PATCH)):
            return None
        key = f"{self._in.application_id}/{event.value}/{revision if revision is not None else len(self._timeline)}"
        if key in self._noticed:
            return None
        named = {name for text in (spec.subject, spec.body, spec.sms) for message in text.values()
                 for name in PLACEHOLDER.findall(message)}
        computed = self._computed() if named - {"service", "reference", *(values or {})} else {}
        filled = {name: display(computed[name]) for name in sorted(named) if computed.get(name) is not None}
        return NoticeRequest(
            key=key, event=event.value, application_id=self._in.application_id, citizen_ref=self._owner,
            service_id=self._snapshot.id, service_title=self._snapshot.title, subject=spec.subject, body=spec.body,
            sms=spec.sms, reference_number=self._reference, values=filled | (values or {}), contact=contact,
        )

    def _remind_appointment(self, booking: Booking) -> None:
        # Snapshots pinned before notices have no reminder notice: notify() sends nothing for them.
        self.notify(NoticeEvent.APPOINTMENT_REMINDER,
                    {"appointment": f"{booking.start + _HKT:%Y-%m-%d %H:%M} HKT", "office": booking.office},
                    revision=booking.booking_id)

    def _start_notices(self) -> None:
        # Sent beside the main loop: a slow mail relay must not hold up delivery to the department.
        for request in self._notices_pending:
            self._sending += 1
            asyncio.get_running_loop().create_task(self._send_notice(request))
        self._notices_pending = []

    async def _send_notice(self, request: NoticeRequest) -> None:
        try:
            await workflow.execute_activity(
                Activity.SEND_NOTICE, request, start_to_close_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=_NOTICE_WINDOW, heartbeat_timeout=_HEARTBEAT,
                retry_policy=_NOTICE_RETRY, result_type=NoticeResult,
            )
        except ActivityError:
            workflow.logger.warning("notice %s was not sent within its retry window", request.key)
        finally:
            self._sending -= 1
    async def _appointments_due(self) -> bool:
        """A hold ran out (its step is open again) or a reminder is due; False when nothing was due."""
        if self._status is Status.DRAFT:
            released = await self._appointments.expire_holds()
            for step_id in released:
                if step_id in self._progress.completed:
                    back = interp.go_back(self._snapshot, self._progress, step_id)
                    if isinstance(back, Progress):
                        self._progress = back
            if released:
                self._updated_at = workflow.now()
            return bool(released)
        return await self._appointments.remind_due()

    async def _settle_appointments(self) -> None:
        """At the end: give the places back, or (approved) keep the booking and still remind the day before."""
        if self._status in RELEASED_WHEN:
            await self._appointments.release_all()
        else:
            await self._appointments.remind_due(wait=True)

    def _history_full(self) -> bool:
        info = workflow.info()
        limit = self._in.history_limit
        return info.is_continue_as_new_suggested() or (0 < limit < info.get_current_history_length())

    def _index_entry(self) -> IndexEntry:
        return IndexEntry(
            application_id=self._in.application_id, citizen_ref=self._owner,
            service_id=self._snapshot.id, department=self._snapshot.department, status=self._status,
            reference_number=self._reference, created_at=self._created_at, updated_at=self._updated_at,
        )

    def _carry(self) -> ApplicationInput:
        carried = Carried(
            status=self._status, completed=self._progress.completed, answers=self._progress.answers,
            prefilled=self._progress.prefilled, consents=self._consents, timeline=self._timeline,
            reference_number=self._reference, delivered=self._delivered, mutations=self._mutations,
            created_at=self._created_at, noticed=self._noticed, bookings=self._appointments.all(),
            payments=self._payments,
        )
        # The next run is a new run: it takes the newest behaviour, as a patch would in a run with no history yet.
        # A snapshot that came by reference goes on by reference.
        return ApplicationInput(self._in.application_id, None if self._in.service_ref else self._snapshot,
                                self._owner, self._in.citizen, self._in.created_at, carried,
                                history_limit=self._in.history_limit,
                                delivery_retry_seconds=self._in.delivery_retry_seconds, behaviour=OUTBOX_BEHAVIOUR,
                                service_ref=self._in.service_ref,
                                payment_timeout_seconds=self._in.payment_timeout_seconds, acting=self._acting)

    def _submitted_at(self) -> datetime:
        # The first SUBMITTED entry, not the last change: a redelivery (or a status set meanwhile) must send the
        # submission as it was signed the first time.
        return next((t.at for t in self._timeline if t.status is Status.SUBMITTED), self._updated_at)

    async def _deliver(self) -> None:
        assert self._reference is not None
        submit = next((s for s in self._snapshot.steps if isinstance(s, SubmitSpec)), None)
        submission = Submission(
            application_id=self._in.application_id, reference_number=self._reference,
            service_id=self._snapshot.id, service_version=self._snapshot.version,
            content_hash=self._snapshot.content_hash,
            department=(submit.department if submit and submit.department else self._snapshot.department),
            endpoint=(submit.endpoint if submit and submit.endpoint else self._snapshot.submission_url),
            citizen_ref=self._owner, answers=self._progress.answers, consents=self._consents,
            assurance=self._step_up_assurance, submitted_at=self._submitted_at(),
            # Only the activity's input grows: recorded histories replay the same commands.
            provenance=[p.as_json() for p in prov.provenance(self._snapshot, self._progress, self._in.citizen,
                                                             self._today())],
            computed=self._computed(),
            payments=[pay.paid_entry(p) for p in self._payments if p.status is PaymentStatus.PAID],
        )
        window = timedelta(seconds=self._in.delivery_retry_seconds) if self._in.delivery_retry_seconds > 0 \
            else DELIVERY_RETRY_DEFAULT
        try:
            await workflow.execute_activity(
                Activity.DELIVER, submission, start_to_close_timeout=timedelta(minutes=2),
                schedule_to_close_timeout=window, heartbeat_timeout=_HEARTBEAT,
                retry_policy=_DELIVERY_RETRY, result_type=DeliveryReceipt,
            )
        except ActivityError as exc:
            # Out of retries (the window passed) or refused for good: staff and operators see DELIVERY_FAILED and
            # an operator redelivers once the cause is fixed. Before, this failed the whole workflow, so no
            # recorded history takes this path.
            self._deliver_pending = False
            if self._status is Status.SUBMITTED:
                self._updated_at = workflow.now()
                self._set_status(Status.DELIVERY_FAILED, _failure(exc))
            # The department never got it: the fee goes back, refundable or not.
            self._queue_refunds("the application could not be delivered to the department", every=True)
            return
        self._delivered = True
        self._deliver_pending = False

    # ---- query and signal ----

    @workflow.query(name=QUERY_STATE)
    def state(self) -> ApplicationView:
        return self._view()

    @workflow.query(name=QUERY_SNAPSHOT)
    def snapshot(self) -> ServiceSnapshot:
        """The pinned definition, for an engine that has not stored it (applications started before it did)."""
        return self._snapshot

    @workflow.signal(name=SIGNAL_DEPARTMENT_STATUS)
    def department_status(self, update: DepartmentStatus) -> None:
        # Signals cannot be refused; the engine checks the transition first, this guard keeps history honest.
        status = update.status
        if status not in DEPARTMENT_STATUSES or self._status in TERMINAL \
                or self._status in (Status.DRAFT, Status.DELIVERY_FAILED):
            # DELIVERY_FAILED: the department does not have it yet; an operator redelivers first.
            return
        oversized = (update.message is not None and len(update.message) > MESSAGE_MAX_CHARS) \
            or len(self._timeline) >= TIMELINE_MAX_ENTRIES
        if oversized and (self._lean or workflow.patched("bounded-department-status")):
            # The engine refuses these before signalling; whoever signals Temporal directly must not be able to
            # grow the application past its payload limit either.
            return
        self._updated_at = workflow.now()
        self._set_status(status, update.message, update.actor)
        # The department's message stays on the timeline: it may name personal details, a notice must not.
        if status is Status.NEEDS_INFO:
            self.notify(NoticeEvent.INFORMATION_NEEDED)
        else:
            self.notify(NoticeEvent.STATUS_CHANGED, {"status": status.value})
        if status is Status.REJECTED:
            self._queue_refunds("the application was rejected")

    # ---- updates: every citizen action ----

    @workflow.update(name=Update.OPEN)
    def open(self, action: OpenInput) -> ApplicationView | ActionResult:
        # The first open of a new application is its own start, whose caller knows the snapshot it pinned: a brief
        # answer it renders without a query. A later open (a retried start, maybe after a catalogue reload) gets the
        # whole view, with the snapshot this run is pinned to. An update's result is not a command: no patch.
        first, self._opened = not self._opened and self._in.carried is None, True
        return self._answer() if first else self._view()

    @open.validator
    def _validate_open(self, action: OpenInput) -> None:
        if self._fault is not None:
            raise self._refuse_fault(self._fault)

    @workflow.update(name=Update.SUBMIT_STEP)
    async def submit_step(self, action: StepAnswers) -> ApplicationView | ActionResult:
        if self._seen(action.client_mutation_id):
            return self._answer()
        step = self._require_current(action.step_id, StepKind.FORM, StepKind.REVIEW, StepKind.SUBMIT)
        if isinstance(step, SubmitSpec):
            return await self._submit(step, action.client_mutation_id)
        self._remember(action.client_mutation_id)
        checked, self._checked = self._checked, None
        if checked is not None and checked.holds(action, self._today(), self._progress):
            answers = checked.accepted  # its validator's, just now (a replay has none and checks again)
        else:
            answers, _ = interp.validate_step(self._snapshot, step, action.answers, self._progress,
                                              self._in.citizen, self._today(), bounded=False, strict=self._strict)
        own = {spec.id for spec in fields_of(step)}
        kept = {k: v for k, v in self._progress.answers.items() if k not in own}
        self._progress = Progress(self._progress.completed, kept | answers, self._progress.prefilled)
        self._complete(step)
        self._touch()
        return self._answer()

    async def _submit(self, step: SubmitSpec, client_mutation_id: str | None) -> ApplicationView | ActionResult:
        # Histories recorded before this patch index the submission in a separate local activity afterwards.
        index_with_reference = self._lean or workflow.patched("submit-indexes-with-reference")
        entry = None
        if index_with_reference:
            entry = replace(self._index_entry(), status=Status.SUBMITTED, updated_at=workflow.now())
        # With the outbox, the receipt notice rides on the reference's activity, which fills in the reference: no
        # activity of its own. Its revision is the timeline's length once SUBMITTED is on it, as notify() would name it.
        receipt = self._notice(NoticeEvent.SUBMITTED, revision=str(len(self._timeline) + 1)) if self._outbox else None
        self._busy = True
        try:
            if self._appointments:
                await self._appointments.confirm()  # the held slots are the citizen's for good now
            self._reference = await workflow.execute_local_activity(
                Activity.ALLOCATE_REFERENCE,
                ReferenceRequest(self._in.application_id, step.department or self._snapshot.department,
                                 workflow.now().year, entry, [receipt] if receipt else []),
                start_to_close_timeout=_SHORT, result_type=str,
            )
        finally:
            self._busy = False
        self._remember(client_mutation_id)
        self._complete(step)
        self._updated_at = entry.updated_at if entry else workflow.now()
        self._set_status(Status.SUBMITTED, reindex=not index_with_reference)
        self._deliver_pending = True
        if receipt is not None:
            self._noticed.append(receipt.key)  # in the outbox already
        elif not self._outbox:
            self.notify(NoticeEvent.SUBMITTED)
        return self._answer()

    @submit_step.validator
    def _validate_submit_step(self, action: StepAnswers) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if self._seen(action.client_mutation_id):
            return
        self._require_idle()
        step = self._require_current(action.step_id, StepKind.FORM, StepKind.REVIEW, StepKind.SUBMIT)
        if isinstance(step, SubmitSpec):
            if action.answers:
                raise _refuse(_error("answers", "UNKNOWN_FIELD", "A submit step takes no answers.",
                                     "提交步驟不接受答案。"))
            if self._appointments.hold_lapsed(workflow.now()):
                raise _refuse(_error("stepId", "HOLD_EXPIRED",
                                     "The time we held for you has run out; choose a time again.",
                                     "為你保留的時間已屆滿，請重新選擇時間。"))
            return
        try:
            answers, errors = interp.validate_step(self._snapshot, step, action.answers, self._progress,
                                                   self._in.citizen, self._today(), strict=self._strict)
        except interp.DefinitionFault as fault:
            raise self._refuse_fault(fault) from fault
        if not errors:
            # In the validator only: a refused update never reaches history, so replays are unaffected.
            errors = prov.read_only_errors(step, answers, self._progress, self._in.citizen, self._today())
        if errors:
            # Rooted at the update's input: an answer's path starts with "answers", whatever the field is called.
            raise _refuse(*(replace(e, path=["answers", *e.path]) if e.path else e for e in errors))
        if self._strict:
            step_fields = {spec.id for spec in fields_of(step)}
            kept = {k: v for k, v in self._progress.answers.items() if k not in step_fields}
            self._dry_run(Progress([*self._progress.completed, step.id], kept | answers,
                                   self._progress.prefilled))
        self._checked = _Checked(action, self._today(), dict(self._progress.answers), dict(self._progress.prefilled),
                                 answers)

    @workflow.update(name=Update.GRANT_CONSENT)
    async def grant_consent(self, action: StepAction) -> ApplicationView | ActionResult:
        if self._seen(action.client_mutation_id):
            return self._answer()
        step = self._require_current(action.step_id, StepKind.PREFILL, StepKind.CONSENT)
        if isinstance(step, PrefillSpec):
            self._busy = True
            try:
                result = await self._prefill(step)
            except _PREFILL_FAILURES as exc:
                # Nothing changed; the citizen may retry with a new client mutation id, or decline and type.
                raise _refuse(_error("stepId", "PREFILL_FAILED",
                                     "Your data could not be fetched just now; try again, or decline to type it.",
                                     "暫時未能取得你的資料；請再試，或選擇不授權並自行填寫。")) from exc
            finally:
                self._busy = False
            self._remember(action.client_mutation_id)
            self._consents[step.id] = result.consent_id
            self._apply_prefill(result)
        elif isinstance(step, ConsentSpec) and step.departments:
            # Only structured consents (new in the definition format) run this activity, so no recorded history
            # reaches it: a free-text consent takes the branch below, as it always did.
            self._busy = True
            try:
                granted = await self._grant(step)
            except ActivityError as exc:
                raise _refuse(_error("stepId", "CONSENT_FAILED",
                                     "Your consent could not be recorded just now; please try again.",
                                     "暫時未能記錄你的同意；請再試。")) from exc
            finally:
                self._busy = False
            self._remember(action.client_mutation_id)
            self._consents[step.id] = "granted"
            for department, consent_id in granted.consent_ids.items():
                self._consents[f"{step.id}:{department}"] = consent_id
        else:
            self._remember(action.client_mutation_id)
            self._consents[step.id] = "granted"
        self._complete(step)
        self._touch()
        return self._answer()

    async def _prefill(self, step: PrefillSpec) -> PrefillResult:
        request = PrefillRequest(
            application_id=self._in.application_id, citizen_ref=self._owner,
            service_id=self._snapshot.id, department=self._snapshot.department, step_id=step.id,
            items=list(step.items), purpose=step.purpose, lawful_basis=step.lawful_basis,
            mode=step.mode, valid_for_seconds=step.valid_for_seconds,
            content_hash=self._snapshot.content_hash, assurance=self._in.citizen.assurance,
            predicates=list(step.predicates), of_actor=step.of_actor,
        )
        result: PrefillResult
        if self._lean:
            # A local activity: one marker event instead of three activity events and a second workflow task. A
            # worker lost mid-prefill fails its workflow task, and the next worker runs the prefill again.
            result = await workflow.execute_local_activity(
                Activity.PREFILL, request, start_to_close_timeout=_SHORT, result_type=PrefillResult,
                retry_policy=_PREFILL_RETRY,
            )
            return result
        result = await workflow.execute_activity(
            Activity.PREFILL, request, start_to_close_timeout=_SHORT, heartbeat_timeout=_HEARTBEAT,
            result_type=PrefillResult, retry_policy=_PREFILL_RETRY,
        )
        return result

    async def _grant(self, step: ConsentSpec) -> ConsentGrantResult:
        request = ConsentGrantRequest(
            application_id=self._in.application_id, citizen_ref=self._owner, service_id=self._snapshot.id,
            content_hash=self._snapshot.content_hash, step_id=step.id, departments=list(step.departments),
            items=list(step.items), purpose=step.purpose or step.statement, assurance=self._in.citizen.assurance,
        )
        result: ConsentGrantResult = await workflow.execute_activity(
            Activity.GRANT_CONSENT, request, start_to_close_timeout=_SHORT, heartbeat_timeout=_HEARTBEAT,
            result_type=ConsentGrantResult, retry_policy=_PREFILL_RETRY,
        )
        return result

    def _apply_prefill(self, result: PrefillResult) -> None:
        fetched = {item.item: item for item in result.items}
        for step in self._snapshot.steps:
            for spec in fields_of(step):
                if spec.prefill is None:
                    continue
                parts = spec.prefill.split(".")
                ref, path = ".".join(parts[:2]), parts[2:]
                item = fetched.get(ref)
                if item is None:
                    continue
                value: Any = item.value
                for key in path:
                    value = value.get(key) if isinstance(value, dict) else None
                if value is not None:
                    self._progress.prefilled[spec.id] = Prefilled(value, item.source, item.verified)

    @grant_consent.validator
    def _validate_grant(self, action: StepAction) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if not self._seen(action.client_mutation_id):
            self._require_idle()
            step = self._require_current(action.step_id, StepKind.PREFILL, StepKind.CONSENT)
            if self._strict:
                self._dry_run(self._completing(step))

    def _completing(self, step: StepSpec) -> Progress:
        return Progress([*self._progress.completed, step.id], self._progress.answers, self._progress.prefilled)

    @workflow.update(name=Update.DECLINE_CONSENT)
    def decline_consent(self, action: StepAction) -> ApplicationView | ActionResult:
        if self._seen(action.client_mutation_id):
            return self._answer()
        step = self._require_current(action.step_id, StepKind.PREFILL, StepKind.CONSENT)
        self._remember(action.client_mutation_id)
        self._consents[step.id] = "declined"
        # A required consent blocks progress when declined; it does not end the application.
        if not (isinstance(step, ConsentSpec) and step.consent_required):
            self._complete(step)
        self._touch()
        return self._answer()

    @decline_consent.validator
    def _validate_decline(self, action: StepAction) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if self._seen(action.client_mutation_id):
            return
        self._require_idle()
        step = self._require_current(action.step_id, StepKind.PREFILL, StepKind.CONSENT)
        if not self._strict:
            return
        if isinstance(step, ConsentSpec) and step.consent_required:
            # Refused rather than recorded: a decline that changes nothing would leave the citizen on the same
            # page with no word of why. The message names the ways on.
            raise _refuse(_error(
                "stepId", "CONSENT_REQUIRED",
                "This consent is required: without it the department cannot process your application. Agree to "
                "continue; or go back to change an earlier answer, or withdraw the application if you do not "
                "want to go on.",
                "此同意為必須：沒有你的同意，部門無法處理你的申請。請同意以繼續；或返回修改之前的答案，"
                "如不想繼續，可撤回申請。"))
        self._dry_run(self._completing(step))

    @workflow.update(name=Update.COMPLETE_STEP_UP)
    def complete_step_up(self, proof: StepUpProof) -> ApplicationView | ActionResult:
        if self._seen(proof.client_mutation_id):
            return self._answer()
        step = self._require_current(proof.step_id, StepKind.STEP_UP)
        self._remember(proof.client_mutation_id)
        self._step_up_assurance = proof.assurance
        self._complete(step)
        self._touch()
        return self._answer()

    @complete_step_up.validator
    def _validate_step_up(self, proof: StepUpProof) -> None:
        self._require_owner(proof.citizen_ref)
        self._require_assurance(proof.assurance)
        if self._seen(proof.client_mutation_id):
            return
        self._require_idle()
        step = self._require_current(proof.step_id, StepKind.STEP_UP)
        assert isinstance(step, StepUpSpec), "_require_current checked the kind"
        if self._strict:
            self._dry_run(self._completing(step))
        required = step.assurance
        if self._snapshot.rank(proof.assurance) < self._snapshot.rank(required):
            raise _refuse(_error("stepId", "INSUFFICIENT_USER_AUTHENTICATION",
                                 f"This step needs assurance level {required!r}.",
                                 f"此步驟需要 {required!r} 級別的身份認證。"))
        if step.max_age_seconds is not None and (
            workflow.now() - proof.auth_time > timedelta(seconds=step.max_age_seconds)
        ):
            raise _refuse(_error("stepId", "INSUFFICIENT_USER_AUTHENTICATION",
                                 "Your authentication is too old for this step; authenticate again.",
                                 "你的身份認證已過時，請重新認證。"))
        top = self._snapshot.assurance_levels[-1] if self._snapshot.assurance_levels else None
        if required == top and proof.txn != f"{self._in.application_id}:{step.id}":
            raise _refuse(_error("stepId", "INSUFFICIENT_USER_AUTHENTICATION",
                                 "Verify your face for this step of this application; that check is not reusable.",
                                 "請為此申請的這個步驟進行人臉核實；核實結果不可重用。"))

    @workflow.update(name=Update.GO_BACK)
    def go_back(self, action: StepAction) -> ApplicationView | ActionResult:
        if self._seen(action.client_mutation_id):
            return self._answer()
        self._remember(action.client_mutation_id)
        result = interp.go_back(self._snapshot, self._progress, action.step_id)
        if isinstance(result, Progress):
            self._progress = result
        self._touch()
        return self._answer()

    @go_back.validator
    def _validate_go_back(self, action: StepAction) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if self._seen(action.client_mutation_id):
            return
        self._require_idle()
        if self._status is not Status.DRAFT:
            raise _refuse(_error("", "NOT_A_DRAFT", f"The application is {self._status.value} and cannot change.",
                                 f"申請狀態為 {self._status.value}，無法更改。"))
        self._require_unpaid_after(action.step_id)
        result = interp.go_back(self._snapshot, self._progress, action.step_id)
        if isinstance(result, FieldError):
            raise _refuse(result)
        if self._strict:
            self._dry_run(result)

    @workflow.update(name=Update.WITHDRAW)
    def withdraw(self, action: Withdraw) -> ApplicationView | ActionResult:
        if self._seen(action.client_mutation_id):
            return self._answer()
        self._remember(action.client_mutation_id)
        self._updated_at = workflow.now()
        self._close(Status.WITHDRAWN)
        if self._status is Status.WITHDRAWN:
            self._queue_refunds("the application was withdrawn")
        return self._answer()

    @withdraw.validator
    def _validate_withdraw(self, action: Withdraw) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if not self._seen(action.client_mutation_id) and self._status not in WITHDRAWABLE:
            raise _refuse(_error("", "NOT_WITHDRAWABLE",
                                 f"The application is {self._status.value}; it can no longer be withdrawn.",
                                 f"申請狀態為 {self._status.value}，已不能撤回。"))

    @workflow.update(name=Update.REDELIVER)
    def redeliver(self, action: Redeliver) -> ApplicationView:
        # New handler only: recorded histories have no such update. The main loop delivers again, with a fresh
        # retry window; the answer is immediate, the outcome shows as the status later.
        if self._seen(action.client_mutation_id):
            return self._view()
        self._remember(action.client_mutation_id)
        self._updated_at = workflow.now()
        self._set_status(Status.SUBMITTED, "Redelivery to the department requested", action.actor)
        self._deliver_pending = True
        return self._view()

    @redeliver.validator
    def _validate_redeliver(self, action: Redeliver) -> None:
        if self._seen(action.client_mutation_id):
            return
        if self._status is not Status.DELIVERY_FAILED:
            raise _refuse(_error("applicationId", "NOT_DELIVERY_FAILED",
                                 f"The application is {self._status.value}; only an application whose delivery "
                                 "failed can be redelivered.",
                                 f"申請狀態為 {self._status.value}；只有遞交失敗的申請可以重新遞交。"))
        if len(self._timeline) >= TIMELINE_MAX_ENTRIES:
            raise _refuse(_error("", "APPLICATION_FULL",
                                 "This application's timeline is full; contact the platform team.",
                                 "此申請的進度記錄已滿，請聯絡平台團隊。"))

    @workflow.update(name=Update.RESPOND)
    def respond_to_request(self, response: InfoResponse) -> ApplicationView | ActionResult:
        # New handler only: histories recorded before it have no such update, so their commands are unchanged.
        if self._seen(response.client_mutation_id):
            return self._answer()
        self._remember(response.client_mutation_id)
        self._updated_at = workflow.now()
        self._set_status(Status.IN_REVIEW, response.message.strip(), CITIZEN_ACTOR)
        return self._answer()

    @respond_to_request.validator
    def _validate_respond(self, response: InfoResponse) -> None:
        self._require_owner(response.citizen_ref)
        self._require_assurance(response.assurance)
        if self._seen(response.client_mutation_id):
            return
        if self._status is not Status.NEEDS_INFO:
            raise _refuse(_error("", "NOT_AWAITING_INFO",
                                 f"The application is {self._status.value}; the department has not asked for "
                                 "information, so there is nothing to reply to.",
                                 f"申請狀態為 {self._status.value}；部門沒有要求補充資料，無需回覆。"))
        text = response.message.strip()
        if not text:
            raise _refuse(_error("message", "REQUIRED", "Write your reply to the department's request.",
                                 "請填寫你對部門要求的回覆。"))
        if len(response.message) > MESSAGE_MAX_CHARS:
            raise _refuse(_error("message", "TOO_LONG",
                                 f"Your reply has {len(response.message)} characters; at most "
                                 f"{MESSAGE_MAX_CHARS} are allowed.",
                                 f"你的回覆有 {len(response.message)} 個字元，上限為 {MESSAGE_MAX_CHARS} 個。"))
        if len(self._timeline) >= TIMELINE_MAX_ENTRIES:
            raise _refuse(_error("", "APPLICATION_FULL",
                                 "This application's timeline is full; contact the department directly.",
                                 "此申請的進度記錄已滿，請直接聯絡部門。"))

    @workflow.update(name=Update.BOOK_APPOINTMENT)
    async def book_appointment(self, action: BookAppointment) -> ApplicationView:
        # New handler only: no recorded history has this update.
        if self._seen(action.client_mutation_id):
            return self._view()
        step = self._snapshot.step(action.step_id)
        assert isinstance(step, AppointmentSpec), "the validator checked the kind"
        self._busy = True
        try:
            booked = await self._appointments.book(step, action, confirmed=self._status is not Status.DRAFT)
        finally:
            self._busy = False
        if not booked:
            raise _refuse(_error("start", "SLOT_FULL", "Every place at that time has just been taken; choose "
                                 "another time.", "該時間的名額剛已額滿，請選擇其他時間。"))
        self._remember(action.client_mutation_id)
        self._updated_at = workflow.now()
        current = self._current() if self._status is Status.DRAFT else None
        if current is not None and current.id == step.id:
            self._complete(step)
            self._touch()
        return self._view()

    @book_appointment.validator
    def _validate_book_appointment(self, action: BookAppointment) -> None:
        self._require_owner(action.citizen_ref)
        self._require_assurance(action.assurance)
        if self._seen(action.client_mutation_id):
            return
        self._require_idle()
        current = self._current() if self._status is Status.DRAFT else None
        problem = self._appointments.problem(self._snapshot, action, self._status, current, workflow.now())
        if problem is not None:
            raise _refuse(problem)
        if self._strict and current is not None and current.id == action.step_id:
            self._dry_run(self._completing(current))
