"""The application index: one row per application, by citizen and by department, for lists paged in SQL.

Temporal holds each application's state; the index answers "which applications, newest first" without asking
every workflow. Entries are the workflow's own ``IndexEntry``, the type its INDEX activity sends, so the index
has one shape from the workflow to GraphQL.

Pages are keyset pages over (created_at DESC, application_id): a position names the last entry seen, never an
offset, so a page costs the same at entry 10,000 as at entry 1, and entries written meanwhile neither repeat
nor vanish from the pages still to come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from onestop.engine.db import ApplicationPartyRow, ApplicationRow, Database
from onestop.engine.db.prepared import Executor, insert_for, prepared, write_alone
from onestop.workflows.contracts import IndexEntry, Status

DEPARTMENT_VISIBLE = (Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED,
                      Status.WITHDRAWN, Status.DELIVERY_FAILED)
"""What a department sees of its applications: everything from submission on, failed deliveries included."""

CITIZEN_SEES = {Status.DELIVERY_FAILED: Status.SUBMITTED}
"""Statuses a citizen sees as another (see ``service.citizen_view``): a failed delivery is "being processed"."""

ORDER = (ApplicationRow.created_at.desc(), ApplicationRow.application_id)
"""Newest first; the id breaks ties so the order is total, which a keyset needs."""


@dataclass(frozen=True)
class IndexPosition:
    """Where a page ended in the index order: what a cursor carries to ask for the entries after it."""

    created_at: datetime
    application_id: str

    @classmethod
    def of(cls, entry: IndexEntry) -> IndexPosition:
        return cls(entry.created_at, entry.application_id)

    def token(self) -> str:
        """A string form for cursors; ``parse`` reads it back."""
        return f"{self.created_at.isoformat()} {self.application_id}"

    @classmethod
    def parse(cls, token: str) -> IndexPosition | None:
        """The position ``token`` names; None when it is not one ``token()`` made."""
        stamp, _, application_id = token.partition(" ")
        try:
            created_at = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if created_at.tzinfo is None or not application_id:
            return None
        return cls(created_at, application_id)


@dataclass(frozen=True)
class IndexPage:
    entries: list[IndexEntry]
    has_next_page: bool
    total_count: int
    """Entries matching the filter across all pages."""


async def record(db: Database, entry: IndexEntry) -> None:
    """Upsert the index row; an older update never overwrites a newer one (safe under concurrent writers)."""
    await write_alone(db.engine, _upsert, _values(entry))  # one statement: its own transaction, committed at once


async def record_in(executor: Executor, entry: IndexEntry) -> None:
    """``record`` in the caller's transaction: one statement, an insert that updates the row already there."""
    await executor.execute(prepared(executor, _upsert), _values(entry))


def _values(entry: IndexEntry) -> dict[str, Any]:
    return {"application_id": entry.application_id, "citizen_ref": entry.citizen_ref,
            "service_id": entry.service_id, "department": entry.department, "status": entry.status,
            "reference_number": entry.reference_number, "created_at": entry.created_at,
            "updated_at": entry.updated_at}


def _upsert(dialect: str) -> Any:
    table = ApplicationRow.__table__
    insert = insert_for(dialect)(table)
    excluded, columns = insert.excluded, table.c
    return insert.on_conflict_do_update(
        index_elements=[columns.application_id],
        set_={"citizen_ref": excluded.citizen_ref,  # an application handed to the person it is for
              "status": excluded.status,
              "reference_number": func.coalesce(excluded.reference_number, columns.reference_number),
              "updated_at": excluded.updated_at},
        # The newest change wins, whichever writer comes last (the API's own write or the workflow's).
        where=excluded.updated_at >= columns.updated_at,
    )


async def citizen_page(db: Database, citizen_ref: str, *, first: int, after: IndexPosition | None = None,
                       status: str | None = None, acted_for: Sequence[str] = ()) -> IndexPage:
    """A citizen's applications, newest first: up to ``first`` entries after ``after``; with ``acted_for``, also
    those others made for them under these relationships (``mandate``, ``parent``)."""
    mine = ApplicationRow.citizen_ref == citizen_ref
    where = [mine if not acted_for else or_(mine, ApplicationRow.application_id.in_(
        select(ApplicationPartyRow.application_id).where(ApplicationPartyRow.subject_ref == citizen_ref,
                                                         ApplicationPartyRow.acting_as.in_(acted_for))))]
    if status is not None:
        # Filter on what the citizen sees: SUBMITTED includes failed deliveries, which never match on their own.
        seen_as = [s.value for s in Status if CITIZEN_SEES.get(s, s).value == status]
        where.append(ApplicationRow.status.in_(seen_as))
    page = await _page(db, where, first, after, None)
    return replace(page, entries=[replace(e, status=CITIZEN_SEES.get(e.status, e.status)) for e in page.entries])


async def department_page(db: Database, department: str, *, first: int, after: IndexPosition | None = None,
                          status: str | None = None) -> IndexPage:
    """A department's submitted applications, newest first: up to ``first`` entries after ``after``."""
    return await _page(db, [
        ApplicationRow.department == department,
        ApplicationRow.status.in_([s.value for s in DEPARTMENT_VISIBLE]),
        ApplicationRow.reference_number.is_not(None),  # drafts withdrawn unsent stay private
    ], first, after, status)


async def _page(db: Database, where: Sequence[ColumnElement[bool]], first: int, after: IndexPosition | None,
                status: str | None) -> IndexPage:
    if first < 1:
        raise ValueError(f"a page holds at least one entry (asked for {first})")
    filters = [*where] if status is None else [*where, ApplicationRow.status == status]
    window = filters if after is None else [*filters, _after(after)]
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(ApplicationRow).where(*filters))
        # One row more than asked says whether another page follows, without a second count.
        rows = list(await session.scalars(select(ApplicationRow).where(*window).order_by(*ORDER).limit(first + 1)))
    return IndexPage([_entry(r) for r in rows[:first]], has_next_page=len(rows) > first, total_count=total or 0)


def _after(position: IndexPosition) -> ColumnElement[bool]:
    # The order mixes directions (created_at DESC, id ASC), so a row-value comparison cannot express it.
    return or_(ApplicationRow.created_at < position.created_at,
               and_(ApplicationRow.created_at == position.created_at,
                    ApplicationRow.application_id > position.application_id))


def _entry(row: ApplicationRow) -> IndexEntry:
    return IndexEntry(row.application_id, row.citizen_ref, row.service_id, row.department, Status(row.status),
                      row.reference_number, row.created_at, row.updated_at)
