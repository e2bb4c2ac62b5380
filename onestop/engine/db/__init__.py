"""The database: one declarative ``Base``, every table, the async ``Database`` and its Alembic migrations."""

from onestop.engine.db.database import Base, Database, UTCDateTime, alembic_config, utcnow
from onestop.engine.db.tables import (
    AccessLogRow,
    ApplicationRow,
    CatalogueVersionRow,
    CitizenRow,
    ConsentRow,
    InboxRow,
    ProcessRow,
    ProfileRow,
    ProviderRecordRow,
    RateLimitBucketRow,
    ReferenceRow,
    ServiceSnapshotRow,
)

__all__ = [
    "AccessLogRow",
    "ApplicationRow",
    "Base",
    "CatalogueVersionRow",
    "CitizenRow",
    "ConsentRow",
    "Database",
    "InboxRow",
    "ProcessRow",
    "ProfileRow",
    "ProviderRecordRow",
    "RateLimitBucketRow",
    "ReferenceRow",
    "ServiceSnapshotRow",
    "UTCDateTime",
    "alembic_config",
    "utcnow",
]
