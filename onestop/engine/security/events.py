"""Security events: an append-only, hash-chained record of what happened to identities, data and staff access.

Recording is a synchronous, non-failing enqueue on the request path; a background task flushes the queue in
batches. Keys are pseudonymous only: the citizen, the staff member and the client IP are keyed hashes
(``FieldCipher.pseudonym``), never the values themselves.

Chaining follows ``data/accesslog.py`` (SHA-256 over the RFC 8785 form of the fields and the previous hash) but
there is one chain per *partition* ``<kind>:<UTC day>`` instead of one for the platform: a single global chain
head is one hot row every writer serialises on; per (kind, day) the writers of different kinds never meet, one
flush appends a whole batch to each chain in one transaction, and retention deletes whole days, so the chains
that remain still verify from their first entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.crypto.signing import canonical_json
from onestop.engine.db import CitizenRow, Database, SecurityEventRow
from onestop.engine.db.prepared import prepared, table_of
from onestop.engine.errors import ChainBroken

log = logging.getLogger(__name__)

GENESIS = "0" * 64


class EventKind(StrEnum):
    TOKEN_REFUSED = "token.refused"  # noqa: S105 (an event name, not a secret)
    SIGN_IN = "sign_in"
    STEP_UP_CHALLENGED = "step_up.challenged"
    STEP_UP_PASSED = "step_up.passed"
    FACE_MISMATCH = "step_up.face_mismatch"
    STEP_UP_LOCKED = "step_up.locked"
    RATE_LIMITED = "rate_limited"
    CONSENT_GRANTED = "consent.granted"
    CONSENT_REVOKED = "consent.revoked"
    DATA_ACCESS = "data.access"
    STAFF_READ = "staff.read"
    STAFF_DECISION = "staff.decision"
    CATALOGUE_CHANGED = "catalogue.changed"
    APPLICATION_STARTED = "application.started"
    DELIVERY_FAILED = "delivery.failed"
    # A sandbox service going live: requested, checked, approved or rejected, live (outcome says which).
    SANDBOX_PROMOTION = "sandbox.promotion"
    GUARDIAN_APPOINTED = "guardian.appointed"
    GUARDIAN_ENDED = "guardian.ended"


@dataclass(frozen=True)
class SecurityEvent:
    """One recorded event as the detector sees it; every key is already a pseudonym."""

    id: int
    at: datetime
    kind: str
    outcome: str | None = None
    citizen: str | None = None
    staff: str | None = None
    ip: str | None = None
    provider: str | None = None
    service: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    """Where call sites report events. ``record`` never raises and never waits."""

    def record(self, kind: EventKind, *, citizen_ref: str | None = None, citizen_sub: str | None = None,
               staff: str | None = None, ip: str | None = None, provider: str | None = None,
               service: str | None = None, outcome: str | None = None, at: datetime | None = None,
               **detail: Any) -> None: ...


class NoEvents:
    """The sink of services built without a recorder (unit tests, tools): records nothing."""

    def record(self, kind: EventKind, **_: Any) -> None:
        return None


NO_EVENTS: EventSink = NoEvents()


@dataclass
class _Pending:
    at: datetime
    kind: str
    outcome: str | None
    citizen: str | None
    citizen_sub: str | None
    staff: str | None
    ip: str | None
    provider: str | None
    service: str | None
    detail: dict[str, Any]


_EVENT_COLUMNS = ("partition", "seq", "at", "kind", "outcome", "citizen", "staff", "ip", "provider", "service",
                  "detail", "prev_hash", "hash")
"""Every column of an event written by the recorder (the id is the database's)."""


def partition_of(kind: str, at: datetime) -> str:
    return f"{kind}:{at.astimezone(UTC).date().isoformat()}"


def event_hash(row: SecurityEventRow) -> str:
    fields: dict[str, Any] = {
        "partition": row.partition, "seq": row.seq, "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "kind": row.kind, "outcome": row.outcome, "citizen": row.citizen, "staff": row.staff, "ip": row.ip,
        "provider": row.provider, "service": row.service, "detail": row.detail, "prev": row.prev_hash,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def event_of(row: SecurityEventRow) -> SecurityEvent:
    return SecurityEvent(id=row.id, at=row.at, kind=row.kind, outcome=row.outcome, citizen=row.citizen,
                         staff=row.staff, ip=row.ip, provider=row.provider, service=row.service,
                         detail=dict(row.detail))


class SecurityEvents:
    """The recorder: ``record`` enqueues (cheap, never fails the caller), ``flush`` appends in batches."""

    def __init__(self, database: Database, cipher: FieldCipher, *, flush_seconds: float = 0.5,
                 max_queue: int = 50_000, batch: int = 1_000) -> None:
        self.database = database
        self.cipher = cipher
        self.flush_seconds = flush_seconds
        self.max_queue = max_queue
        self.batch = batch
        self.dropped = 0
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def citizen_key(self, citizen_ref: str) -> str:
        """The pseudonym every security record uses for a citizen (from the citizen reference)."""
        return self.cipher.pseudonym("security-citizen", citizen_ref)

    def staff_key(self, staff_sub: str) -> str:
        return self.cipher.pseudonym("security-staff", staff_sub)

    def ip_key(self, ip: str) -> str:
        return self.cipher.pseudonym("security-ip", ip)

    def record(self, kind: EventKind, *, citizen_ref: str | None = None, citizen_sub: str | None = None,
               staff: str | None = None, ip: str | None = None, provider: str | None = None,
               service: str | None = None, outcome: str | None = None, at: datetime | None = None,
               **detail: Any) -> None:
        try:
            if len(self._queue) >= self.max_queue:
                # Bounded memory when the database is down: the oldest unflushed event goes first.
                self._queue.pop(0)
                self.dropped += 1
            self._queue.append(_Pending(
                at=(at or datetime.now(UTC)).astimezone(UTC), kind=str(kind), outcome=outcome,
                citizen=self.citizen_key(citizen_ref) if citizen_ref else None, citizen_sub=citizen_sub,
                staff=self.staff_key(staff) if staff else None, ip=self.ip_key(ip) if ip else None,
                provider=provider, service=service, detail={k: v for k, v in detail.items() if v is not None},
            ))
            self._ensure_flusher()
        except Exception:  # observing must never break what it observes
            log.warning("could not record security event %s", kind, exc_info=True)

    def _ensure_flusher(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return  # closed: the database goes next, so nothing may start writing to it any more
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the next async record or an explicit flush writes it
        self._task = loop.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        try:
            await self.flush()
        except Exception:
            log.warning("security events flush failed; %d kept for the next one", len(self._queue), exc_info=True)

    async def flush(self) -> int:
        """Write every queued event; the number written."""
        written = 0
        async with self._lock:
            while self._queue:
                pending, self._queue = self._queue[:self.batch], self._queue[self.batch:]
                try:
                    written += await self._append(pending)
                except Exception:
                    self._queue = pending + self._queue
                    raise
        return written

    async def _append(self, pending: Sequence[_Pending]) -> int:
        subs = {p.citizen_sub for p in pending if p.citizen_sub and not p.citizen}
        for _attempt in range(10):
            try:
                async with self.database.engine.begin() as session:
                    refs: dict[str, str] = {}
                    if subs:
                        refs = {sub: ref for sub, ref in (await session.execute(
                            select(CitizenRow.sub, CitizenRow.ref).where(CitizenRow.sub.in_(subs))))}
                    partitions = {partition_of(item.kind, item.at) for item in pending}
                    # Every chain's head in one read; a chain not begun yet starts from the genesis hash.
                    heads: dict[str, tuple[int, str]] = dict.fromkeys(partitions, (0, GENESIS)) | {
                        row.partition: (row.seq, row.hash) for row in await session.execute(
                            prepared(session, _heads), {"partitions": sorted(partitions)})}
                    rows: list[dict[str, Any]] = []
                    for item in pending:
                        partition = partition_of(item.kind, item.at)
                        seq, prev = heads[partition]
                        citizen = item.citizen
                        if citizen is None and item.citizen_sub:
                            ref = refs.get(item.citizen_sub)
                            # A subject the platform has never seen still gets a stable key of its own.
                            citizen = self.citizen_key(ref) if ref else self.cipher.pseudonym(
                                "security-subject", item.citizen_sub)
                        row = SecurityEventRow(
                            partition=partition, seq=seq + 1, at=item.at, kind=item.kind, outcome=item.outcome,
                            citizen=citizen, staff=item.staff, ip=item.ip, provider=item.provider,
                            service=item.service, detail=item.detail, prev_hash=prev, hash="")
                        row.hash = event_hash(row)
                        heads[partition] = (row.seq, row.hash)
                        rows.append({column: getattr(row, column) for column in _EVENT_COLUMNS})
                    # One statement for the batch (an executemany): the rows' ids are not needed back.
                    await session.execute(prepared(session, _insert), rows)
                return len(pending)
            except IntegrityError:
                continue  # another process appended to one of these chains: read the heads again
        raise RuntimeError("security event append kept conflicting; the database is overloaded")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # its failure was logged already
                await self._task
        try:
            await self.flush()
        except Exception:
            log.warning("security events lost at shutdown: %d", len(self._queue), exc_info=True)


def _heads(dialect: str) -> Any:
    """The newest event of each named chain (the unique (partition, seq) index finds each chain's maximum)."""
    events = table_of(SecurityEventRow).c
    newest = (select(events.partition, func.max(events.seq).label("seq"))
              .where(events.partition.in_(bindparam("partitions", expanding=True)))
              .group_by(events.partition).subquery())
    return select(events.partition, events.seq, events.hash).join(
        newest, (events.partition == newest.c.partition) & (events.seq == newest.c.seq))


def _insert(dialect: str) -> Any:
    # The table's insert, not the mapped class's: an executemany without the ORM's bulk machinery.
    return insert(table_of(SecurityEventRow))


class SecurityEventLog:
    """Reading, verifying and expiring recorded events."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def since(self, after_id: int, *, not_before: datetime | None = None,
                    limit: int = 100_000) -> list[SecurityEvent]:
        query = select(SecurityEventRow).where(SecurityEventRow.id > after_id)
        if not_before is not None:
            query = query.where(SecurityEventRow.at >= not_before)
        async with self.database.session() as session:
            rows = (await session.scalars(query.order_by(SecurityEventRow.id).limit(limit))).all()
        return [event_of(row) for row in rows]

    async def window(self, start: datetime) -> list[SecurityEvent]:
        """Every event at or after ``start``, oldest first."""
        async with self.database.session() as session:
            rows = (await session.scalars(select(SecurityEventRow).where(SecurityEventRow.at >= start)
                                          .order_by(SecurityEventRow.id))).all()
        return [event_of(row) for row in rows]

    async def count(self, kind: EventKind, since: datetime) -> int:
        async with self.database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(SecurityEventRow).where(
                SecurityEventRow.kind == kind.value, SecurityEventRow.at >= since)) or 0)

    async def last_id(self) -> int:
        async with self.database.session() as session:
            return int(await session.scalar(select(func.max(SecurityEventRow.id))) or 0)

    async def verify(self, partition: str) -> int:
        """Check one chain; its length, or ``ChainBroken`` at the first bad entry."""
        async with self.database.session() as session:
            rows = (await session.scalars(select(SecurityEventRow).where(SecurityEventRow.partition == partition)
                                          .order_by(SecurityEventRow.seq))).all()
        prev = GENESIS
        for expected, row in enumerate(rows, start=1):
            if row.seq != expected:
                raise ChainBroken(partition, expected, "entry missing (sequence gap)")
            if row.prev_hash != prev:
                raise ChainBroken(partition, row.seq, "does not link to the previous entry")
            if event_hash(row) != row.hash:
                raise ChainBroken(partition, row.seq, "content changed after it was written")
            prev = row.hash
        return len(rows)

    async def purge(self, before: datetime) -> int:
        """Delete every event of the UTC days wholly before ``before`` (whole chains, so the rest still verify)."""
        day = before.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.database.session() as session:
            result = await session.execute(delete(SecurityEventRow).where(SecurityEventRow.at < day))
        return int(getattr(result, "rowcount", 0) or 0)
