"""Alembic environment: runs on the connection ``Database.migrate`` hands over (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from onestop.engine.db import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through onestop.engine.db.Database.migrate(), which supplies the connection")
_run(connection)
