"""Inputs and results crossing the workflow boundary: updates, signals, queries and activities.

One dataclass per message so fields can be added (with defaults) without breaking recorded histories.
Activities are referenced by name here and implemented in ``onestop.engine.applications.activities``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from temporalio.common import SearchAttributeKey

from onestop.catalogue import StepKind
from onestop.workflows.interpreter import Applicant, Prefilled
from onestop.workflows.payments import PaymentAttempt
from onestop.workflows.provenance import FieldProvenance
from onestop.workflows.snapshot import PredicateSpec, ServiceSnapshot, StepSpec, Text

WORKFLOW_NAME = "ServiceApplication"


class Status(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    IN_REVIEW = "IN_REVIEW"
    NEEDS_INFO = "NEEDS_INFO"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    # Delivery to the department ran out of retries; staff and operators see it, the citizen sees SUBMITTED.
    DELIVERY_FAILED = "DELIVERY_FAILED"


TERMINAL = frozenset({Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.EXPIRED, Status.NOT_ELIGIBLE})
DEPARTMENT_STATUSES = frozenset({Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED})
# DELIVERY_FAILED too: to the citizen it is SUBMITTED, which they may withdraw.
WITHDRAWABLE = frozenset({Status.DRAFT, Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO,
                          Status.DELIVERY_FAILED})
DELIVERY_RETRY_DEFAULT = timedelta(hours=24)
"""How long delivery retries when the application's input names no window (``delivery_retry_seconds`` 0)."""


class Update:
    OPEN = "open"
    SUBMIT_STEP = "submitStep"
    GRANT_CONSENT = "grantConsent"
    DECLINE_CONSENT = "declineConsent"
    COMPLETE_STEP_UP = "completeStepUp"
    GO_BACK = "goBack"
    WITHDRAW = "withdraw"
    RESPOND = "respondToRequest"
    REDELIVER = "redeliver"
    BEGIN_PAYMENT = "beginPayment"
    BOOK_APPOINTMENT = "bookAppointment"


# Visibility: the engine sets all four when it starts an application (and registers them with the server);
# the workflow upserts the status as it changes.
SERVICE_ID_ATTRIBUTE = SearchAttributeKey.for_keyword("OnestopServiceId")
CITIZEN_REF_ATTRIBUTE = SearchAttributeKey.for_keyword("OnestopCitizenRef")
STATUS_ATTRIBUTE = SearchAttributeKey.for_keyword("OnestopStatus")
DEPARTMENT_ATTRIBUTE = SearchAttributeKey.for_keyword("OnestopDepartment")
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    SERVICE_ID_ATTRIBUTE, CITIZEN_REF_ATTRIBUTE, STATUS_ATTRIBUTE, DEPARTMENT_ATTRIBUTE,
)

SIGNAL_DEPARTMENT_STATUS = "departmentStatus"
SIGNAL_ACTING_ENDED = "actingEnded"
SIGNAL_ACTING_TERM = "actingTerm"
QUERY_STATE = "state"
QUERY_SNAPSHOT = "snapshot"
REFUSED = "InvalidInput"
"""The ``type`` of the ApplicationError refusing an update; its first detail lists the FieldErrors as dicts."""


class Activity:
    PREFILL = "onestop.prefill"
    ALLOCATE_REFERENCE = "onestop.allocate_reference"
    DELIVER = "onestop.deliver_submission"
    GRANT_CONSENT = "onestop.grant_consent"
    INDEX = "onestop.index_application"
    SEND_NOTICE = "onestop.send_notice"
    # A local activity: the index entry and notices for the engine's outbox, in one call (see ``Changes``).
    RECORD_CHANGES = "onestop.record_changes"
    HOLD_SLOT = "onestop.hold_slot"
    CONFIRM_SLOT = "onestop.confirm_slot"
    RELEASE_SLOT = "onestop.release_slot"
    # The day-before timer calls it; it records that the reminder is due (the notices hook in here).
    APPOINTMENT_REMINDER_DUE = "onestop.appointment_reminder_due"


BOOKING_HELD = "HELD"
BOOKING_CONFIRMED = "CONFIRMED"


@dataclass(frozen=True)
class Booking:
    """A slot an appointment step booked: HELD until the application is submitted, then CONFIRMED."""

    booking_id: str
    step_id: str
    office: str
    start: datetime
    end: datetime
    state: str = BOOKING_HELD
    held_until: datetime | None = None
    reminded: bool = False
    # How long before ``start`` the reminder goes out (bookings recorded before it was declarable: a day).
    reminder_seconds: int = 24 * 3600


@dataclass(frozen=True)
class BookAppointment:
    """The citizen books (or reschedules to) one slot of an appointment step."""

    step_id: str
    office: str
    start: datetime
    client_mutation_id: str | None = None
    # Who is acting; checked by the validator so a foreign application looks unknown.
    citizen_ref: str = ""
    # The caller's assurance level id (see StepAnswers).
    assurance: str = ""


@dataclass(frozen=True)
class SlotRequest:
    """Hold one place of a slot, atomically releasing ``release`` (a booking being rescheduled) in the same go."""

    booking_id: str
    application_id: str
    service_id: str
    office: str
    start: datetime
    end: datetime
    capacity: int
    held_until: datetime | None
    release: str | None = None


@dataclass(frozen=True)
class SlotResult:
    booked: bool


@dataclass(frozen=True)
class BookingRef:
    booking_id: str


@dataclass(frozen=True)
class ReminderDue:
    """The day before an appointment: what a reminder notice needs (no personal data; the notice looks it up)."""

    application_id: str
    citizen_ref: str
    service_id: str
    booking_id: str
    office: str
    start: datetime


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    status: Status
    message: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class NoticeRequest:
    """One notice to the applicant. ``key`` names it (application, event, revision): the same on every retry, so the
    engine sends it once. It carries only what its templates name: no answers, no identity numbers."""

    key: str
    event: str
    application_id: str
    citizen_ref: str
    service_id: str
    service_title: Text
    subject: Text
    body: Text
    sms: Text
    reference_number: str | None = None
    # Placeholder name -> value as text: the event's own (status, expiresOn, amount ...) and the computed values the
    # templates use, nothing else.
    values: dict[str, str] = field(default_factory=dict)
    # An applicant without a sign-in: channel ("email", "phone") -> the address they gave in the service's contact
    # field. Empty for a signed-in citizen, whose e-ME profile says where to write.
    contact: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NoticeResult:
    key: str
    # Channel -> "sent", "duplicate" (an earlier attempt sent it) or why not ("no-contact", "no-channel", "opted-out").
    outcomes: dict[str, str] = field(default_factory=dict)


@dataclass
class Carried:
    """State handed to the next run on continue-as-new."""

    status: Status
    completed: list[str]
    answers: dict[str, Any]
    prefilled: dict[str, Prefilled]
    consents: dict[str, str]
    timeline: list[TimelineEntry]
    reference_number: str | None
    delivered: bool
    mutations: list[str]
    created_at: datetime
    payments: list[PaymentAttempt] = field(default_factory=list)
    # The events notices were sent for, as the revisions they were sent at (a continued run must not repeat them).
    noticed: list[str] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)


class ActingEnd(StrEnum):
    """Why someone stopped acting for the person an application is for."""

    ADULT = "adult"  # the child turned 18
    EXPIRED = "expired"  # the mandate reached its end date
    REVOKED = "revoked"  # the grantor revoked the mandate
    GUARDIANSHIP = "guardianship"  # the guardianship reached its end date, or the department ended it


@dataclass(frozen=True)
class ActingTerm:
    """An application started by one citizen for another: until when the actor may act, and what then becomes of
    the application (``move``: it becomes the subject's; ``close``: a draft is closed, anything further moves)."""

    subject_ref: str
    ends_at: datetime
    reason: ActingEnd  # why it ends at ``ends_at`` (the 18th birthday or the mandate's end)
    on_end: str = "move"


@dataclass(frozen=True)
class ActingEnded:
    """Signalled when the right ends before ``ActingTerm.ends_at`` (a revoked mandate, an ended guardianship).

    ``subject_ref`` and ``on_end`` stand in for the term of an application started before it had one: it is handed
    to ``subject_ref`` all the same (empty: applications with a term only, as before)."""

    reason: ActingEnd
    subject_ref: str = ""
    on_end: str = "move"


@dataclass(frozen=True)
class ApplicationInput:
    application_id: str
    # None when ``service_ref`` names it instead: the engine's payload converter puts the pinned snapshot back
    # before the workflow sees its input (see ``onestop.engine.applications.pinned``).
    service: ServiceSnapshot | None
    citizen_ref: str
    citizen: Applicant
    created_at: datetime
    carried: Carried | None = None
    # Continue as new past this many history events (0: only when the server suggests it).
    history_limit: int = 0
    # How long delivery to the department retries before the application is DELIVERY_FAILED (0: the default).
    delivery_retry_seconds: float = 0.0
    # The workflow behaviour this run was started with, from the input rather than a patch marker: a patch costs
    # two events in every history (its marker and the SDK's TemporalChangeVersion upsert). Runs started without
    # it (0) take the paths their patch markers recorded. 1: no index write at start, prefill as a local activity,
    # and every patch before it in force.
    behaviour: int = 0
    # The pinned snapshot's digest (``pinned.snapshot_ref``) when ``service`` travels by reference: one copy per
    # version in the engine's snapshot store instead of one in every application's history.
    service_ref: str = ""
    # How long a hosted payment page waits for the citizen before the attempt times out (0: the default).
    payment_timeout_seconds: float = 0.0
    # Set when ``citizen_ref`` acts for someone else (a parent, a mandate holder): the durable timer that hands the
    # application over when that right ends. None for an applicant acting for themself (and every older run).
    acting: ActingTerm | None = None


LEAN_BEHAVIOUR = 1
"""``ApplicationInput.behaviour`` of runs the engine starts now (see there)."""
BRIEF_BEHAVIOUR = 2
"""Also answers the citizen's step actions with an ``ActionResult`` instead of the whole view."""
OUTBOX_BEHAVIOUR = 3
"""Also hands notices to the engine's outbox from a local activity the workflow runs anyway (the reference's at
submission, the index's after a status change) instead of a ``send_notice`` activity each, with no patch marker;
the engine's relay sends them."""
NEWEST_BEHAVIOUR = OUTBOX_BEHAVIOUR
"""The newest behaviour this code knows. A run with a newer one was started by a newer engine: its workflow task
fails (and is retried) until a worker of that release takes it, so workers are deployed before the API."""


@dataclass(frozen=True)
class OpenInput:
    client_mutation_id: str | None = None


@dataclass(frozen=True)
class StepAnswers:
    step_id: str
    answers: dict[str, Any]
    client_mutation_id: str | None = None
    # Who is acting; checked by the validator so a foreign application looks unknown.
    citizen_ref: str = ""
    # The caller's assurance level id (from the token); below the service's level the validator refuses.
    # Empty when the engine itself acts (tests, tools) or the caller has no token (a `login: none` service,
    # which is always at the lowest level).
    assurance: str = ""


@dataclass(frozen=True)
class StepAction:
    step_id: str
    client_mutation_id: str | None = None
    # Who is acting; checked by the validator so a foreign application looks unknown.
    citizen_ref: str = ""
    # The caller's assurance level id (from the token); below the service's level the validator refuses.
    # Empty when the engine itself acts (tests, tools) or the caller has no token (a `login: none` service,
    # which is always at the lowest level).
    assurance: str = ""


@dataclass(frozen=True)
class StepUpProof:
    """What the engine verified about the caller's current token before sending this update."""

    step_id: str
    assurance: str
    auth_time: datetime
    client_mutation_id: str | None = None
    # Who is acting; checked by the validator so a foreign application looks unknown.
    citizen_ref: str = ""
    # The token's transaction binding (`txn`); a top-level (face) step-up must be bound to this step.
    txn: str = ""


@dataclass(frozen=True)
class Withdraw:
    client_mutation_id: str | None = None
    # Who is acting; checked by the validator so a foreign application looks unknown.
    citizen_ref: str = ""
    # The caller's assurance level id (from the token); below the service's level the validator refuses.
    # Empty when the engine itself acts (tests, tools) or the caller has no token (a `login: none` service,
    # which is always at the lowest level).
    assurance: str = ""


MESSAGE_MAX_CHARS = 2000
"""The longest message on a timeline: a citizen's reply or a department's request."""
TIMELINE_MAX_ENTRIES = 200
"""The most timeline entries an application holds; with bounded messages it keeps the state far below Temporal's
payload limit whatever staff or citizens send."""
CITIZEN_ACTOR = "citizen"
"""The timeline actor of the citizen's own entries (staff entries carry the officer's subject)."""


@dataclass(frozen=True)
class InfoResponse:
    """The citizen's answer to a department's NEEDS_INFO request."""

    message: str
    client_mutation_id: str | None = None
    # Who is acting; checked by the validator so a foreign application looks unknown.
    citizen_ref: str = ""
    # The caller's assurance level id (from the token); below the service's level the validator refuses.
    # Empty when the engine itself acts (tests, tools) or the caller has no token (a `login: none` service,
    # which is always at the lowest level).
    assurance: str = ""


@dataclass(frozen=True)
class Redeliver:
    """An operator's request to deliver a DELIVERY_FAILED application again (the engine checked the role)."""

    actor: str
    client_mutation_id: str | None = None


@dataclass(frozen=True)
class DepartmentStatus:
    # A value outside Status fails to decode and the SDK drops the signal: signals cannot be refused.
    status: Status
    message: str | None = None
    actor: str | None = None


class StepState(StrEnum):
    """Where one step of an application stands."""

    DONE = "DONE"
    CURRENT = "CURRENT"
    TODO = "TODO"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class StepOutline:
    id: str
    type: StepKind
    title: Text
    state: StepState


@dataclass(frozen=True)
class ApplicationView:
    application_id: str
    service_id: str
    service_version: int
    content_hash: str
    department: str
    citizen_ref: str
    status: Status
    current_step_id: str | None
    completed: list[str]
    answers: dict[str, Any]
    prefilled: dict[str, Prefilled]
    consents: dict[str, str]
    timeline: list[TimelineEntry]
    reference_number: str | None
    delivered: bool
    created_at: datetime
    updated_at: datetime
    exit_message: Text | None = None
    current_step: StepSpec | None = None
    outline: list[StepOutline] = field(default_factory=list)
    # The service's assurance level id, so a refused action can be answered with the right challenge.
    assurance: str = ""
    provenance: list[FieldProvenance] = field(default_factory=list)
    # The service's computed values over the answers so far (those computable yet), by name.
    computed: dict[str, Any] = field(default_factory=dict)
    # Every payment attempt, newest last; and what the current payment step charges, in cents.
    payments: list[PaymentAttempt] = field(default_factory=list)
    amount_due_cents: int | None = None
    # Appointment slots the application holds or has booked, one per appointment step.
    bookings: list[Booking] = field(default_factory=list)
    # Built by the engine from an ActionResult: status, current step and outline are whole; answers and prefilled
    # hold the current step's fields only; the rest (timeline, consents, provenance, ...) is left empty.
    partial: bool = False


@dataclass(frozen=True)
class ActionResult:
    """What a citizen's step action leaves on screen: status, the step now current with its fields' values, and
    each step's state. The engine completes it from the pinned snapshot; a few hundred bytes of history instead
    of the whole application at every action."""

    status: Status
    current_step_id: str | None
    # One letter per outline entry, in the outline's order: the first letter of its StepState.
    steps: str
    # The current step's fields only.
    answers: dict[str, Any] = field(default_factory=dict)
    prefilled: dict[str, Prefilled] = field(default_factory=dict)
    reference_number: str | None = None
    exit_message: Text | None = None


# Activities


@dataclass(frozen=True)
class ConsentGrantRequest:
    """A structured consent step granted: one signed consent record per department it names."""

    application_id: str
    citizen_ref: str
    service_id: str
    content_hash: str
    step_id: str
    departments: list[str]
    items: list[str]
    purpose: Text
    assurance: str = ""


@dataclass(frozen=True)
class ConsentGrantResult:
    # Department code -> the consent record's id.
    consent_ids: dict[str, str]


@dataclass(frozen=True)
class PrefillRequest:
    application_id: str
    citizen_ref: str
    service_id: str
    department: str
    step_id: str
    items: list[str]
    purpose: Text
    lawful_basis: str
    mode: str
    valid_for_seconds: int | None
    content_hash: str = ""
    assurance: str = ""
    # Names this logical fetch, the same on every retry of it, so its consent and access-log entries are written
    # once; the activity fills it in from its own identity when empty.
    fetch_id: str = ""
    # Yes/no facts the gateway checks against authoritative records; each comes back as a PrefillItem named by
    # the predicate's id, with a boolean value.
    predicates: list[PredicateSpec] = field(default_factory=list)
    # Acting for someone: read the actor's own records (`of: actor`) instead of the subject's.
    of_actor: bool = False


@dataclass(frozen=True)
class PrefillItem:
    item: str
    value: Any
    source: str
    verified: bool = False


@dataclass(frozen=True)
class PrefillResult:
    consent_id: str
    items: list[PrefillItem]




@dataclass(frozen=True)
class Submission:
    application_id: str
    reference_number: str
    service_id: str
    service_version: int
    content_hash: str
    department: str
    endpoint: str | None
    citizen_ref: str
    answers: dict[str, Any]
    consents: dict[str, str]
    assurance: str
    submitted_at: datetime
    # Per answered field: where it came from (see ``provenance.FieldProvenance.as_json``).
    provenance: list[dict[str, Any]] = field(default_factory=list)
    # The computed values the citizen saw, so the department sees them too.
    computed: dict[str, Any] = field(default_factory=dict)
    # The fees paid (payment id, amount, reference), signed with the rest.
    payments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryReceipt:
    application_id: str
    channel: str
    duplicate: bool


@dataclass(frozen=True)
class IndexEntry:
    application_id: str
    citizen_ref: str
    service_id: str
    department: str
    status: Status
    reference_number: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReferenceRequest:
    application_id: str
    department: str
    year: int
    # When set, the same activity records the submission in the index (one write fewer on the way back).
    index: IndexEntry | None = None
    # Notices for the engine's outbox, sent with the reference the activity allocates (OUTBOX_BEHAVIOUR).
    notices: list[NoticeRequest] = field(default_factory=list)


@dataclass(frozen=True)
class Changes:
    """What a ``record_changes`` local activity writes: the index entry (None: unchanged) and notices for the
    engine's outbox, which its relay sends once per key."""

    index: IndexEntry | None = None
    notices: list[NoticeRequest] = field(default_factory=list)
