"""The engine: every side effect of onestop, one sub-package per concern.

Callers outside the engine (``graphql``, ``runtime``) import from here. The workflow contracts they need (the
application view, the index entry, the step states, and the snapshot's step and field specs) are re-exported so
that nothing outside the engine reaches into ``workflows``.
"""

from onestop.catalogue import DOCUMENT_KINDS
from onestop.engine.applications.applicants import Applicants, new_resume_token
from onestop.engine.applications.index import IndexPage, IndexPosition
from onestop.engine.applications.service import ApplicationService
from onestop.engine.appointments import AppointmentServices, SlotAvailability, hold_minutes
from onestop.engine.catalogue_store import CatalogueSnapshot, CatalogueStore
from onestop.engine.container import Engine, build_engine
from onestop.engine.data.accesslog import AccessLogEntry
from onestop.engine.data.consent import Consent
from onestop.engine.data.gateway import DataServices, FetchResult
from onestop.engine.data.profiles import Profile
from onestop.engine.documents import Document, DocumentService, ScannerUnavailable, ScanStatus
from onestop.engine.errors import EngineError, FieldError, Forbidden, InvalidInput, NotFound
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import challenge_header
from onestop.engine.limits import Buckets, Limits, build_limits
from onestop.engine.logs import LOG_OPERATION, LOG_REQUEST_ID
from onestop.engine.metrics import (
    GRAPHQL_ERRORS,
    GRAPHQL_FIELD_LATENCY,
    GRAPHQL_USER_ERRORS,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    RATE_LIMITED,
    bounded_label,
    metrics_exposition,
)
from onestop.engine.notices import ChannelChoice, NoticePreferences, SentNotice
from onestop.engine.payments import PaymentRecord
from onestop.engine.relationships import Acting, ActingAs, Dependent, Mandate, MandateStatus, Parties
from onestop.engine.sandbox import (
    Promotion,
    SandboxCatalogues,
    SandboxPromotions,
    SandboxService,
    SandboxVersion,
    UploadResult,
)
from onestop.engine.security import (
    NO_EVENTS,
    OPERATOR_ROLE,
    Alert,
    AlertStatus,
    CitizenAlert,
    CitizenAnswer,
    Deviation,
    EventKind,
    EventSink,
    SecurityAlerts,
    SecurityServices,
    Severity,
    StepUpLocked,
    SystemHealth,
)
from onestop.engine.tracing import provider as tracer_provider
from onestop.workflows.contracts import (
    BOOKING_HELD,
    CITIZEN_ACTOR,
    ApplicationView,
    Booking,
    IndexEntry,
    Status,
    StepState,
    TimelineEntry,
)
from onestop.workflows.payments import PaymentAttempt, PaymentStatus, dollars
from onestop.workflows.promotion import PromotionCheck, PromotionStatus
from onestop.workflows.provenance import FieldProvenance, editable
from onestop.workflows.snapshot import (
    AppointmentSpec,
    ConsentSpec,
    ExitSpec,
    FieldSpec,
    FormSpec,
    PaymentSpec,
    PredicateSpec,
    PrefillSpec,
    ReviewSpec,
    StepSpec,
    StepUpSpec,
    SubmitSpec,
    Text,
    fields_of,
)

__all__ = [
    "BOOKING_HELD",
    "CITIZEN_ACTOR",
    "DOCUMENT_KINDS",
    "GRAPHQL_ERRORS",
    "GRAPHQL_FIELD_LATENCY",
    "GRAPHQL_USER_ERRORS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "LOG_OPERATION",
    "LOG_REQUEST_ID",
    "NO_EVENTS",
    "OPERATOR_ROLE",
    "RATE_LIMITED",
    "AccessLogEntry",
    "Acting",
    "ActingAs",
    "Alert",
    "AlertStatus",
    "Applicants",
    "ApplicationService",
    "ApplicationView",
    "AppointmentServices",
    "AppointmentSpec",
    "Booking",
    "Buckets",
    "CatalogueSnapshot",
    "CatalogueStore",
    "ChannelChoice",
    "CitizenAlert",
    "CitizenAnswer",
    "Consent",
    "ConsentSpec",
    "DataServices",
    "Dependent",
    "Deviation",
    "Document",
    "DocumentService",
    "Engine",
    "EngineError",
    "EventKind",
    "EventSink",
    "ExitSpec",
    "FetchResult",
    "FieldError",
    "FieldProvenance",
    "FieldSpec",
    "Forbidden",
    "FormSpec",
    "IndexEntry",
    "IndexPage",
    "IndexPosition",
    "InvalidInput",
    "Limits",
    "Mandate",
    "MandateStatus",
    "NotFound",
    "NoticePreferences",
    "Parties",
    "PaymentAttempt",
    "PaymentRecord",
    "PaymentSpec",
    "PaymentStatus",
    "PredicateSpec",
    "PrefillSpec",
    "Principal",
    "Profile",
    "Promotion",
    "PromotionCheck",
    "PromotionStatus",
    "ReviewSpec",
    "SandboxCatalogues",
    "SandboxPromotions",
    "SandboxService",
    "SandboxVersion",
    "ScanStatus",
    "ScannerUnavailable",
    "SecurityAlerts",
    "SecurityServices",
    "SentNotice",
    "Severity",
    "SlotAvailability",
    "Status",
    "StepSpec",
    "StepState",
    "StepUpLocked",
    "StepUpSpec",
    "SubmitSpec",
    "SystemHealth",
    "Text",
    "TimelineEntry",
    "UploadResult",
    "bounded_label",
    "build_engine",
    "build_limits",
    "challenge_header",
    "dollars",
    "editable",
    "fields_of",
    "hold_minutes",
    "metrics_exposition",
    "new_resume_token",
    "tracer_provider",
]
