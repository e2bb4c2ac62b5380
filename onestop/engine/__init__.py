"""The engine: every side effect of onestop, one sub-package per concern.

Callers outside the engine (``graphql``, ``runtime``) import from here. The workflow contracts they need
(the application view, the step states, and the snapshot's step and field specs) are re-exported so that
nothing outside the engine reaches into ``workflows``.
"""

from onestop.engine.applications.applicants import Applicants, new_resume_token
from onestop.engine.applications.service import ApplicationRefused, ApplicationService, IndexedApplication
from onestop.engine.catalogue_store import CatalogueSnapshot, CatalogueStore
from onestop.engine.container import Engine, build_engine
from onestop.engine.data.accesslog import AccessLogEntry
from onestop.engine.data.consent import Consent
from onestop.engine.data.gateway import DataServices, FetchResult
from onestop.engine.data.profiles import Profile
from onestop.engine.errors import EngineError, FieldError, Forbidden, InvalidInput, NotFound
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import challenge_header
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
from onestop.workflows.contracts import CITIZEN_ACTOR, ApplicationView, Status, StepState, TimelineEntry
from onestop.workflows.snapshot import (
    ConsentSpec,
    ExitSpec,
    FieldSpec,
    FormSpec,
    PrefillSpec,
    ReviewSpec,
    StepSpec,
    StepUpSpec,
    SubmitSpec,
    Text,
    fields_of,
)

__all__ = [
    "CITIZEN_ACTOR",
    "NO_EVENTS",
    "OPERATOR_ROLE",
    "AccessLogEntry",
    "Alert",
    "AlertStatus",
    "Applicants",
    "ApplicationRefused",
    "ApplicationService",
    "ApplicationView",
    "CatalogueSnapshot",
    "CatalogueStore",
    "CitizenAlert",
    "CitizenAnswer",
    "Consent",
    "ConsentSpec",
    "DataServices",
    "Deviation",
    "Engine",
    "EngineError",
    "EventKind",
    "EventSink",
    "ExitSpec",
    "FetchResult",
    "FieldError",
    "FieldSpec",
    "Forbidden",
    "FormSpec",
    "IndexedApplication",
    "InvalidInput",
    "NotFound",
    "PrefillSpec",
    "Principal",
    "Profile",
    "ReviewSpec",
    "SecurityAlerts",
    "SecurityServices",
    "Severity",
    "Status",
    "StepSpec",
    "StepState",
    "StepUpLocked",
    "StepUpSpec",
    "SubmitSpec",
    "SystemHealth",
    "Text",
    "TimelineEntry",
    "build_engine",
    "challenge_header",
    "fields_of",
    "new_resume_token",
]
