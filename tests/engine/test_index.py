"""The application index: upserts, and lists paged in SQL by keyset, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from onestop.engine.applications import index
from onestop.engine.applications.index import IndexPage, IndexPosition
from onestop.engine.db import Database
from onestop.workflows.contracts import IndexEntry

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def entry(n: int, *, citizen: str = "citizen-a", department: str = "TD", status: str = "SUBMITTED",
          created_at: datetime | None = None) -> IndexEntry:
    at = created_at or T0 + timedelta(seconds=n)
    reference = None if status == "DRAFT" else f"{department}-2026-{n:06d}"
    return IndexEntry(f"app-{n:05d}", citizen, "renew-driving-licence", department, status, reference, at, at)


def newest_first(entries: list[IndexEntry]) -> list[str]:
    return [e.application_id for e in sorted(entries, key=lambda e: (-e.created_at.timestamp(), e.application_id))]


async def every_page(list_page: Callable[..., Awaitable[IndexPage]], first: int) -> tuple[list[str], list[IndexPage]]:
    """Follow the pages from the start to the last one, as a client following endCursor would."""
    seen: list[str] = []
    pages: list[IndexPage] = []
    after: IndexPosition | None = None
    while True:
        page = await list_page(first=first, after=after)
        pages.append(page)
        seen.extend(e.application_id for e in page.entries)
        if not page.has_next_page:
            return seen, pages
        after = IndexPosition.parse(IndexPosition.of(page.entries[-1]).token())


LISTED = 1_130


def status_of(n: int) -> str:
    # Mostly IN_REVIEW, so even the lists filtered by status run past a thousand entries.
    return {1: "SUBMITTED", 3: "DRAFT"}.get(n % 20, "IN_REVIEW")


@pytest.mark.slow
async def test_lists_page_past_a_thousand_entries_in_order_with_no_gap_or_repeat(database: Database) -> None:
    # Three entries share each second, so the id decides between them; ids are written in shuffled order so the
    # table's physical order says nothing.
    numbers = list(range(LISTED))
    random.Random(7).shuffle(numbers)
    mine = [entry(n, status=status_of(n), created_at=T0 + timedelta(seconds=n // 3)) for n in numbers]
    others = [entry(LISTED + n, citizen="citizen-b", department="IMMD", status=status_of(n)) for n in range(20)]
    for written in [*mine, *others]:
        await index.record(database, written)

    in_review = [e for e in mine if e.status == "IN_REVIEW"]
    sent = [e for e in mine if e.status != "DRAFT"]  # a department never sees drafts
    lists = {
        "citizen": (partial(index.citizen_page, database, "citizen-a"), mine),
        "citizen IN_REVIEW": (partial(index.citizen_page, database, "citizen-a", status="IN_REVIEW"), in_review),
        "department": (partial(index.department_page, database, "TD"), sent),
        "department IN_REVIEW": (partial(index.department_page, database, "TD", status="IN_REVIEW"), in_review),
    }
    for name, (list_page, expected) in lists.items():
        assert len(expected) > 1_000, name
        seen, pages = await every_page(list_page, first=100)
        assert seen == newest_first(expected), name
        assert len(set(seen)) == len(seen), name
        assert seen[1_000] == newest_first(expected)[1_000], name
        assert {p.total_count for p in pages} == {len(expected)}, name
        assert [len(p.entries) for p in pages[:-1]] == [100] * (len(pages) - 1), name


async def test_a_page_after_the_last_entry_is_empty(database: Database) -> None:
    for n in range(3):
        await index.record(database, entry(n))
    last = (await index.citizen_page(database, "citizen-a", first=3)).entries[-1]
    after = await index.citizen_page(database, "citizen-a", first=3, after=IndexPosition.of(last))
    assert after == IndexPage([], has_next_page=False, total_count=3)


async def test_a_page_of_exactly_the_remaining_entries_says_no_next_page(database: Database) -> None:
    for n in range(4):
        await index.record(database, entry(n))
    first = await index.citizen_page(database, "citizen-a", first=2)
    rest = await index.citizen_page(database, "citizen-a", first=2, after=IndexPosition.of(first.entries[-1]))
    assert first.has_next_page
    assert not rest.has_next_page
    assert [e.application_id for e in first.entries + rest.entries] == ["app-00003", "app-00002", "app-00001",
                                                                        "app-00000"]


async def test_entries_written_between_pages_neither_repeat_nor_hide_the_rest(database: Database) -> None:
    for n in range(6):
        await index.record(database, entry(n))
    first = await index.citizen_page(database, "citizen-a", first=3)
    await index.record(database, entry(99))  # newer than everything: it belongs before the first page
    rest = await index.citizen_page(database, "citizen-a", first=3, after=IndexPosition.of(first.entries[-1]))
    assert [e.application_id for e in first.entries + rest.entries] == [f"app-{n:05d}" for n in range(5, -1, -1)]
    assert rest.total_count == 7


async def test_the_department_sees_neither_drafts_nor_other_departments(database: Database) -> None:
    await index.record(database, entry(1, status="DRAFT"))
    await index.record(database, entry(2, department="IMMD"))
    await index.record(database, entry(3, status="WITHDRAWN"))
    await index.record(database, replace(entry(4, status="WITHDRAWN"), reference_number=None))  # never sent
    page = await index.department_page(database, "TD", first=10)
    assert [e.application_id for e in page.entries] == ["app-00003"]


async def test_an_older_update_never_overwrites_a_newer_one(database: Database) -> None:
    submitted = entry(1)
    reviewed = replace(submitted, status="IN_REVIEW", updated_at=submitted.updated_at + timedelta(minutes=5))
    await index.record(database, reviewed)
    await index.record(database, submitted)
    assert (await index.citizen_page(database, "citizen-a", first=1)).entries == [reviewed]


def test_a_position_reads_back_from_its_token() -> None:
    position = IndexPosition(datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC), "app-1")
    assert IndexPosition.parse(position.token()) == position


@pytest.mark.parametrize("token", ["", "app-1", "2026-03-01T09:00:00+00:00", "2026-03-01T09:00:00 app-1",
                                   "yesterday app-1", "2026-13-01T09:00:00+00:00 app-1"])
def test_a_token_that_is_no_position_reads_as_none(token: str) -> None:
    assert IndexPosition.parse(token) is None


@pytest.mark.parametrize("list_page", [partial(index.citizen_page, citizen_ref="citizen-a"),
                                       partial(index.department_page, department="TD", status="IN_REVIEW")],
                         ids=["citizen", "department"])
async def test_a_page_reads_an_index_in_keyset_order_instead_of_sorting(
        tmp_path: Path, list_page: Callable[..., Awaitable[IndexPage]]) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/migrated.db")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: Any, *_args: object) -> None:
        statements.append((statement, parameters))

    try:
        await db.migrate()
        event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        await list_page(db, first=10, after=IndexPosition(T0, "app-1"))
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
        statement, parameters = next(s for s in statements if "ORDER BY" in s[0])
        async with db.engine.connect() as conn:
            plan = " / ".join(row[-1] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                            parameters))
    finally:
        await db.close()
    assert "_created" in plan
    assert "TEMP B-TREE" not in plan  # no sort: rows come off the index in page order
