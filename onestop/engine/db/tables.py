"""Every onestop table. Personal values are stored only as ciphertext (see ``crypto/cipher.py``); those columns
hold the ciphertext as TEXT."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onestop.engine.db.database import Base, utcnow


class CitizenRow(Base):
    """A citizen known to the platform. ``sub`` is the pairwise subject from the identity provider;
    ``ref`` is the pseudonymous reference used outside the database (Temporal search attributes, logs)."""

    __tablename__ = "citizens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sub: Mapped[str] = mapped_column(String(255), unique=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class ProfileRow(Base):
    """The e-ME profile; every personal column holds ciphertext bound to (column, citizen)."""

    __tablename__ = "profiles"

    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True)
    name_en: Mapped[str | None] = mapped_column(Text)
    name_zh: Mapped[str | None] = mapped_column(Text)
    date_of_birth: Mapped[str | None] = mapped_column(Text)
    hkid: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    residential_address: Mapped[str | None] = mapped_column(Text)
    correspondence_address: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ProviderRecordRow(Base):
    """One value a department holds about a citizen (the SQL-backed provider registry)."""

    __tablename__ = "provider_records"
    __table_args__ = (UniqueConstraint("citizen_id", "provider_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)  # ciphertext of the JSON value
    updated_at: Mapped[datetime]


class ConsentRow(Base):
    """A consent artefact; ``jws`` is the platform's signature over its canonical form."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_citizen_granted", "citizen_id", "granted_at"),
                      UniqueConstraint("citizen_id", "grant_key", name="uq_consents_citizen_grant_key"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    service_slug: Mapped[str] = mapped_column(String(200))
    service_hash: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(20))
    providers: Mapped[list[Any]]
    items: Mapped[list[Any]]
    purpose: Mapped[dict[str, Any]]
    lawful_basis: Mapped[str] = mapped_column(String(50))
    mode: Mapped[str] = mapped_column(String(20))
    acr: Mapped[str] = mapped_column(String(200))
    application_id: Mapped[str | None] = mapped_column(String(200), index=True)
    step_id: Mapped[str | None] = mapped_column(String(100))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    jws: Mapped[str] = mapped_column(Text)
    receipt_jws: Mapped[str | None] = mapped_column(Text)
    # Names the logical grant (application, step, fetch) so a retried prefill finds its consent, never adds one.
    grant_key: Mapped[str | None] = mapped_column(String(64))


class AccessLogRow(Base):
    """One entry of a citizen's hash-chained access log (``seq`` counts from 1 per citizen)."""

    __tablename__ = "access_log"
    __table_args__ = (UniqueConstraint("citizen_id", "seq"),
                      UniqueConstraint("citizen_id", "fetch_key", name="uq_access_log_citizen_fetch_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    service_slug: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[Any]]
    consent_id: Mapped[str | None] = mapped_column(String(36))
    application_id: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(50))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Names the logical access (application, step, fetch, provider, outcome): a retried activity that repeats
    # it finds its own entry instead of appending another. NULL for accesses outside a workflow.
    fetch_key: Mapped[str | None] = mapped_column(String(64))


class InboxRow(Base):
    """A department's received submission (the embedded default channel)."""

    __tablename__ = "department_inbox"

    application_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    department: Mapped[str] = mapped_column(String(20), index=True)
    reference_number: Mapped[str] = mapped_column(String(40), unique=True)
    service_id: Mapped[str] = mapped_column(String(120))
    citizen_ref: Mapped[str] = mapped_column(String(120))
    jws: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferenceRow(Base):
    """One row per submitted application; its autoincrement id is the reference number's sequence."""

    __tablename__ = "application_references"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(String(120), unique=True)
    department: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)


class ApplicationRow(Base):
    """The index of applications by citizen and department (Temporal holds the state itself)."""

    __tablename__ = "applications"

    application_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    citizen_ref: Mapped[str] = mapped_column(String(120))
    service_id: Mapped[str] = mapped_column(String(120))
    department: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reference_number: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


# The keyset order of every list (see ``applications/index.py``) after the column each list filters on, so a page
# reads its rows in index order and stops, however deep it is.
Index("ix_applications_citizen_ref_created", ApplicationRow.citizen_ref, ApplicationRow.created_at.desc(),
      ApplicationRow.application_id)
Index("ix_applications_department_created", ApplicationRow.department, ApplicationRow.created_at.desc(),
      ApplicationRow.application_id)


class RateLimitBucketRow(Base):
    """A token bucket shared by every API replica (PostgreSQL); ``key`` is a keyed hash, never an IP or subject."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)  # seconds since the epoch, by the database's clock
    allowed: Mapped[bool] = mapped_column(Boolean)


class ServiceSnapshotRow(Base):
    """A pinned service definition by content hash, as running applications interpret it (no personal data)."""

    __tablename__ = "service_snapshots"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[str] = mapped_column(Text)


class ProcessRow(Base):
    """A running onestop process (``serve``, ``api`` or ``worker``), refreshed by its heartbeat, so processes
    sharing a database can notice each other and a configuration they must agree on."""

    __tablename__ = "processes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    public_url: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class SecurityEventRow(Base):
    """One security event, hash-chained within its partition ``<kind>:<UTC day>`` (``seq`` counts from 1).
    Every key column holds a keyed pseudonym, never an identifier itself."""

    __tablename__ = "security_events"
    __table_args__ = (UniqueConstraint("partition", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partition: Mapped[str] = mapped_column(String(60))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(40))
    citizen: Mapped[str | None] = mapped_column(String(64))
    staff: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(100))
    service: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class SecurityAlertRow(Base):
    """An explained anomaly: the rule or baseline, the series, the deviating features and the events behind it."""

    __tablename__ = "security_alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    series: Mapped[str] = mapped_column(String(200), index=True)
    features: Mapped[list[Any]]
    event_ids: Mapped[list[Any]]
    facts: Mapped[dict[str, Any]]
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    lock_until: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class SecurityAlertSubjectRow(Base):
    """A citizen an alert concerns (by pseudonym) and their answer to it: ``was_me`` or ``was_not_me``."""

    __tablename__ = "security_alert_subjects"

    alert_id: Mapped[str] = mapped_column(ForeignKey("security_alerts.id", ondelete="CASCADE"), primary_key=True)
    citizen: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    answer: Mapped[str | None] = mapped_column(String(20))
    answered_at: Mapped[datetime | None]


class SecurityLockRow(Base):
    """A temporary lock (``face_step_up``) on one subject (a citizen pseudonym), until ``until``."""

    __tablename__ = "security_locks"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime]
    alert_id: Mapped[str | None] = mapped_column(String(36))


class DetectorStateRow(Base):
    """The anomaly detector's durable state: its watermark (last event id read) and its learned baselines."""

    __tablename__ = "detector_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    watermark: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class CatalogueVersionRow(Base):
    """The catalogue version announced most recently to every process on this database. A process that reloads
    its definitions (SIGHUP, file polling) raises ``generation``; the others watch it and reload their own."""

    __tablename__ = "catalogue_versions"

    # One row per catalogue the processes share; today only "definitions". The primary key is the watched index.
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    announced_by: Mapped[str] = mapped_column(String(300))
    announced_at: Mapped[datetime]


class DocumentRow(Base):
    """A file a citizen uploaded for one field of one of their applications. The content lives sealed in the
    document store under ``id``; the file name is ciphertext bound to the row; ``deleted_at`` marks content gone
    (retention or removal) while the row keeps the SHA-256 the signed submission names."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_application", "application_id", "field_id"),
                      Index("ix_documents_delete_after", "delete_after"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64))
    citizen_ref: Mapped[str] = mapped_column(String(64))
    field_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)  # ciphertext
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    scan_status: Mapped[str] = mapped_column(String(16))
    store: Mapped[str] = mapped_column(String(16))
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    delete_after: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class PaymentRow(Base):
    """One hosted payment attempt of an application's payment step, as the provider knows it. Holds no personal
    data: the payment id is the provider's, the application id is opaque, and card or account details never reach
    the platform. The webhook finds the application here; ``receipt`` is the signed receipt (a JWS)."""

    __tablename__ = "payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), index=True)
    step_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    # The provider's idempotency key of the creation: one row, one charge, however often the activity retries.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    method: Mapped[str | None] = mapped_column(String(20))
    provider_reference: Mapped[str | None] = mapped_column(String(100))
    receipt_id: Mapped[str | None] = mapped_column(String(64))
    receipt: Mapped[str | None] = mapped_column(Text)
    refund_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentEventRow(Base):
    """A provider webhook already passed to its application: a second delivery of the same event is dropped."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime]


class AppointmentSlotRow(Base):
    """How many bookings one slot of one office holds. Booking raises ``booked`` only while it is below the
    slot's capacity, in one conditional UPDATE, so concurrent bookers can never overfill a slot."""

    __tablename__ = "appointment_slots"
    __table_args__ = (CheckConstraint("booked >= 0", name="booked_not_negative"),)

    service_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    office: Mapped[str] = mapped_column(String(100), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    booked: Mapped[int] = mapped_column(Integer)


class AppointmentBookingRow(Base):
    """One booking of a slot by an application: ``held`` until the application is submitted (``held_until``),
    then ``confirmed``; ``released`` after a withdrawal, a reschedule or an expired hold. No personal data."""

    __tablename__ = "appointment_bookings"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), index=True)
    service_id: Mapped[str] = mapped_column(String(80))
    office: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    held_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    # When the workflow's day-before timer fired (the hook the reminder notice is sent from).
    reminder_due_at: Mapped[datetime | None]


class AnonymousDraftRow(Base):
    """An anonymous application nobody has answered yet: no workflow runs for it until its citizen first acts.

    ``citizen_ref`` is the resume token's keyed reference (never the token); ``payload`` is ciphertext of what the
    workflow will be started with. Deleted once the workflow runs, or ``expires_at`` by the sweep."""

    __tablename__ = "anonymous_drafts"

    application_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    citizen_ref: Mapped[str] = mapped_column(String(120))
    service_id: Mapped[str] = mapped_column(String(120))
    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class NoticeRow(Base):
    """One notice to one applicant on one channel, written before it is sent: ``key`` (application, event,
    revision, channel) is unique, so a retried or repeated send finds it and never sends twice. ``status``: queued
    (written by a workflow's activity, for the relay to send), sending (claimed; ``attempts`` counts the claims),
    sent, or failed (its retry window passed). ``message`` is ciphertext (recipient and text); ``citizen_ref`` is
    the pseudonym, for the citizen's own list."""

    __tablename__ = "notices_sent"
    # The relay's sweep reads the few rows not yet sent (queued, or a send that did not finish) by status.
    __table_args__ = (Index("ix_notices_sent_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    application_id: Mapped[str] = mapped_column(String(120), index=True)
    citizen_ref: Mapped[str] = mapped_column(String(120), index=True)
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class NoticePreferenceRow(Base):
    """How a citizen wants notices: ``language`` (en, tc, sc; none: both English and Chinese) and ``channels``
    (email, sms, both, none; none set: email when the profile has one, else SMS)."""

    __tablename__ = "notice_preferences"

    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    channels: Mapped[str | None] = mapped_column(String(10))
    updated_at: Mapped[datetime]


class BirthRegistrationRow(Base):
    """ImmD's birth registrations as links between citizens: a child and one registered parent per row. The
    child's name and date of birth are ciphertext; parental rights end on the 18th birthday computed from it."""

    __tablename__ = "birth_registrations"

    child_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
    date_of_birth: Mapped[str] = mapped_column(Text)  # ciphertext
    child_name: Mapped[str] = mapped_column(Text)  # ciphertext: the name as registered
    registered_at: Mapped[datetime] = mapped_column()


class CitizenIdentifierRow(Base):
    """A keyed pseudonym of a citizen's HKID (never the HKID itself), to find the citizen another names."""

    __tablename__ = "citizen_identifiers"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)


class MandateRow(Base):
    """A mandate one citizen grants another: the scope is ciphertext, the artefact is signed (``jws``)."""

    __tablename__ = "mandates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    grantor_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    grantee_id: Mapped[str] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)  # ciphertext of {services, themes, items}
    valid_from: Mapped[datetime] = mapped_column()
    valid_until: Mapped[datetime] = mapped_column()
    granted_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    jws: Mapped[str] = mapped_column(Text)


class ApplicationPartyRow(Base):
    """Who acts and whom an application is about, by pseudonymous references only, and under which relationship."""

    __tablename__ = "application_parties"

    application_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    actor_ref: Mapped[str] = mapped_column(String(120), index=True)
    subject_ref: Mapped[str] = mapped_column(String(120), index=True)
    acting_as: Mapped[str] = mapped_column(String(20))
    mandate_id: Mapped[str | None] = mapped_column(String(36))


class WebSessionRow(Base):
    """A web app session, shared by every web replica. ``slot`` is a hash of the cookie's random id (the cookie
    itself is never stored); ``blob`` is AES-GCM ciphertext bound to the slot, sealed by the web app's key."""

    __tablename__ = "web_sessions"

    slot: Mapped[str] = mapped_column(String(64), primary_key=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    touched_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class SandboxRow(Base):
    """A sandbox programme provider's sandbox, provisioned once per approved application to join.

    ``namespace`` scopes everything of the sandbox (its catalogue, inbox and task queue) and is the department
    code of its staff. ``details`` is ciphertext (organisation, contact and the OIDC client secret, shown to the
    provider's staff); ``client_secret_hash`` is the secret's SHA-256, all the identity provider needs to check it."""

    __tablename__ = "sandboxes"

    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(120), unique=True)
    namespace: Mapped[str] = mapped_column(String(12), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SandboxMemberRow(Base):
    """A login of a sandbox: one of its provider's staff, or one of its synthetic test citizens.

    ``details`` is ciphertext (staff name and email; a test citizen's synthetic identity)."""

    __tablename__ = "sandbox_members"

    login: Mapped[str] = mapped_column(String(80), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.provider_id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    age_group: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SandboxCatalogueVersionRow(Base):
    """One version of a sandbox's own catalogue: every definition file its provider has uploaded so far.

    ``files`` is JSON ``{tree path: text}``; the public catalogue never reads this table."""

    __tablename__ = "sandbox_catalogue_versions"

    provider_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.provider_id", ondelete="CASCADE"),
                                             primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    files: Mapped[str] = mapped_column(Text)
    services: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class SandboxTestRunRow(Base):
    """An application a sandbox's test citizen started, with the exact definition (content hash) it ran: a
    promotion to the public catalogue needs one of that very hash to have been completed in the sandbox."""

    __tablename__ = "sandbox_test_runs"

    application_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.provider_id", ondelete="CASCADE"), index=True)
    service_slug: Mapped[str] = mapped_column(String(120))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class SandboxPromotionRow(Base):
    """A provider's request that a sandbox service's version go live, and where it stands (the workflow
    ``SandboxPromotionWorkflow`` decides; this row is what lists and repeated calls read).

    ``files`` is JSON ``{tree path: text}``: exactly the files of the requested version that are written into the
    live definitions on approval, fixed when the request is made; ``checks`` JSON ``[{name, passed, detail}]``."""

    __tablename__ = "sandbox_promotions"

    promotion_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.provider_id", ondelete="CASCADE"), index=True)
    namespace: Mapped[str] = mapped_column(String(12))
    service_slug: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    files: Mapped[str] = mapped_column(Text)
    checks: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    catalogue_version: Mapped[str | None] = mapped_column(String(64))
