"""The database: one declarative ``Base``, every table, the async ``Database`` and its Alembic migrations."""

from onestop.engine.db.database import Base, Database, UTCDateTime, alembic_config, utcnow
from onestop.engine.db.tables import (
    AccessLogRow,
    ApplicationRow,
    CitizenRow,
    ConsentRow,
    DetectorStateRow,
    InboxRow,
    ProfileRow,
    ProviderRecordRow,
    ReferenceRow,
    SecurityAlertRow,
    SecurityAlertSubjectRow,
    SecurityEventRow,
    SecurityLockRow,
)

__all__ = [
    "AccessLogRow",
    "ApplicationRow",
    "Base",
    "CitizenRow",
    "ConsentRow",
    "Database",
    "DetectorStateRow",
    "InboxRow",
    "ProfileRow",
    "ProviderRecordRow",
    "ReferenceRow",
    "SecurityAlertRow",
    "SecurityAlertSubjectRow",
    "SecurityEventRow",
    "SecurityLockRow",
    "UTCDateTime",
    "alembic_config",
    "utcnow",
]
