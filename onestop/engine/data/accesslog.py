"""The citizen's data access log: every fetch (allowed or refused) appended to a per-citizen hash chain.

Each entry's ``hash`` is SHA-256 over the RFC 8785 form of its fields and the previous entry's hash, so
editing, inserting or removing an entry breaks verification from that point on. Removing the newest entries
leaves a valid shorter chain, so ``checkpoint`` signs the current head with the platform key (which is not in
the database); verifying against a kept checkpoint detects truncation and rewriting up to it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update

from onestop.engine.crypto.signing import Signer, canonical_json
from onestop.engine.data.profiles import CitizenDirectory
from onestop.engine.db import AccessLogRow, CitizenRow, Database
from onestop.engine.db.prepared import Executor, commits_with_next, prepared, table_of
from onestop.engine.errors import ChainBroken, InvalidInput, field_error

GENESIS = "0" * 64
CHECKPOINT_TYP = "onestop-access-log-head+jws"
ALLOWED = "allowed"
REFUSED = "refused"
FAILED = "failed"


@dataclass(frozen=True)
class AccessLogEntry:
    """One access: when, who asked (service, department), what (provider, items), under which consent."""

    seq: int
    at: datetime
    service_slug: str
    department: str
    provider_id: str
    items: tuple[str, ...]
    consent_id: str | None
    application_id: str | None
    outcome: str
    reason: str | None
    hash: str
    # Whom the access was for when not the citizen whose log it is: a parent, carer or guardian (their ref).
    actor_ref: str | None = None

    @property
    def cursor(self) -> str:
        return encode_cursor(self.seq)


@dataclass(frozen=True)
class AccessLogPage:
    entries: tuple[AccessLogEntry, ...]
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"log:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = text.partition(":")
        if kind != "log":
            raise ValueError(kind)
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput([field_error(("after",), "not a cursor of this list; pass an endCursor from it",
                                       "BAD_CURSOR")]) from None


def fetch_key(*parts: str) -> str:
    """The idempotency key of one logical access, from the parts that name it (never the attempt)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def lock_chain(executor: Executor, citizen_id: str) -> None:
    """Hold the citizen's chain until the transaction ends, so concurrent appends queue instead of colliding.

    Reading the head and inserting after it must be one step per citizen; without a lock every concurrent
    append of the same citizen (one person, several applications at once) read the same head and all but one
    failed on the unique seq and retried. PostgreSQL locks the citizen's row, so other citizens' chains are
    untouched. SQLite has no row locks and its driver starts a transaction only at the first write, so a
    no-op write takes the database's write lock before the head is read.
    """
    await executor.execute(prepared(executor, _lock), {"citizen": citizen_id})


def _lock(dialect: str) -> Any:
    citizens = CitizenRow.__table__.c
    if dialect == "postgresql":
        return select(citizens.id).where(citizens.id == bindparam("citizen")).with_for_update()
    return update(table_of(CitizenRow)).where(citizens.id == bindparam("citizen")).values(id=citizens.id)


def _written(dialect: str) -> Any:
    """The entries already written under the given fetch keys, and the chain's head, in one read."""
    log = AccessLogRow.__table__
    head = select(func.max(log.c.seq)).where(log.c.citizen_id == bindparam("citizen")).scalar_subquery()
    return select(log).where(log.c.citizen_id == bindparam("citizen"),
                             or_(log.c.fetch_key.in_(bindparam("keys", expanding=True)), log.c.seq == head))


def _insert(dialect: str) -> Any:
    return insert(table_of(AccessLogRow))


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class NewEntry:
    """An access to append: what ``append_entries`` chains onto a citizen's log."""

    service_slug: str
    department: str
    provider_id: str
    items: Sequence[str]
    consent_id: str | None
    application_id: str | None
    outcome: str
    reason: str | None = None
    at: datetime | None = None
    fetch_key: str | None = None
    actor_ref: str | None = None


async def append_entries(session: Executor, citizen_id: str, entries: Sequence[NewEntry], *,
                         locked: bool = False, ends_transaction: bool = False) -> list[AccessLogEntry]:
    """Chain ``entries`` onto the citizen's log in the caller's transaction, in order; an entry whose ``fetch_key``
    is already in the log is not appended again (the one written is returned in its place).

    The chain is locked first (``lock_chain``; ``locked``: the caller has), so the head read here is still the head
    when the transaction commits; the entries after the first link to each other without reading it again.
    ``ends_transaction``: the caller commits straight after, so the insert may commit in its own trip
    (``commits_with_next``).
    """
    if not locked:
        await lock_chain(session, citizen_id)
    keys = [e.fetch_key for e in entries if e.fetch_key is not None]
    found = (await session.execute(prepared(session, _written), {"citizen": citizen_id, "keys": keys})).all()
    done: dict[str, AccessLogEntry] = {row.fetch_key: _entry(row) for row in found
                                       if row.fetch_key is not None and row.fetch_key in keys}
    last = max(found, key=lambda row: row.seq, default=None)  # the head: no entry of the chain is past it
    seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS)
    written: list[AccessLogEntry] = []
    rows: list[dict[str, Any]] = []
    for new in entries:
        if new.fetch_key is not None and new.fetch_key in done:
            written.append(done[new.fetch_key])
            continue
        seq += 1
        values: dict[str, Any] = {
            "citizen_id": citizen_id, "seq": seq, "at": (new.at or datetime.now(UTC)).astimezone(UTC),
            "service_slug": new.service_slug, "department": new.department, "provider_id": new.provider_id,
            "items": sorted(new.items), "consent_id": new.consent_id, "application_id": new.application_id,
            "outcome": new.outcome, "reason": new.reason, "prev_hash": prev, "fetch_key": new.fetch_key,
            "actor_ref": new.actor_ref}
        values["hash"] = prev = entry_hash(SimpleNamespace(**values))
        rows.append(values)
        entry = _entry(SimpleNamespace(**values))
        if new.fetch_key is not None:
            done[new.fetch_key] = entry  # the same key twice in one call: appended once
        written.append(entry)
    if rows:
        if ends_transaction:
            await commits_with_next(session)
        await session.execute(prepared(session, _insert), rows)
    return written


def entry_hash(row: Any) -> str:
    """The chain hash of an entry (a row, or the values of one about to be written)."""
    fields: dict[str, Any] = {
        "citizen": row.citizen_id, "seq": row.seq, "at": _timestamp(row.at), "service": row.service_slug,
        "department": row.department, "provider": row.provider_id, "items": list(row.items),
        "consent": row.consent_id, "application": row.application_id, "outcome": row.outcome,
        "reason": row.reason, "prev": row.prev_hash,
    }
    if row.actor_ref is not None:  # only then, so entries written before actors were recorded keep their hash
        fields["actor"] = row.actor_ref
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def _entry(row: Any) -> AccessLogEntry:
    return AccessLogEntry(
        seq=row.seq, at=row.at, service_slug=row.service_slug, department=row.department,
        provider_id=row.provider_id, items=tuple(row.items), consent_id=row.consent_id,
        application_id=row.application_id, outcome=row.outcome, reason=row.reason, hash=row.hash,
        actor_ref=row.actor_ref,
    )


class AccessLog:
    """Append to, page through and verify citizens' access logs."""

    def __init__(self, database: Database, citizens: CitizenDirectory, signer: Signer | None = None) -> None:
        self.database = database
        self.citizens = citizens
        self.signer = signer

    async def append(self, citizen_id: str, *, service_slug: str, department: str, provider_id: str,
                     items: Sequence[str], consent_id: str | None, application_id: str | None,
                     outcome: str, reason: str | None = None, at: datetime | None = None,
                     fetch_key: str | None = None, actor_ref: str | None = None) -> AccessLogEntry:
        """Add an entry in its own transaction (so refusals are recorded even when the caller fails).

        With ``fetch_key`` (one logical access, the same on every retry of it) an entry already written under
        that key is returned and nothing is appended.
        """
        entry = NewEntry(service_slug=service_slug, department=department, provider_id=provider_id, items=items,
                         consent_id=consent_id, application_id=application_id, outcome=outcome, reason=reason,
                         at=at, fetch_key=fetch_key, actor_ref=actor_ref)
        async with self.database.session() as session:
            return (await append_entries(session, citizen_id, [entry]))[0]

    async def list(self, sub: str, *, first: int = 20, after: str | None = None) -> AccessLogPage:
        """The caller's entries, newest first, ``first`` (1-100) after the ``after`` cursor."""
        citizen = await self.citizens.get(sub)
        return await self.list_for(None if citizen is None else citizen.id, first=first, after=after)

    async def list_for(self, citizen_id: str | None, *, first: int = 20, after: str | None = None) -> AccessLogPage:
        """One citizen's entries by id (their own log, or a minor's as their parent sees it), newest first."""
        if not 1 <= first <= 100:
            raise InvalidInput([field_error(("first",), "ask for between 1 and 100 entries", "BAD_PAGE_SIZE")])
        before = decode_cursor(after) if after else None
        if citizen_id is None:
            return AccessLogPage((), False, None)
        query = select(AccessLogRow).where(AccessLogRow.citizen_id == citizen_id)
        if before is not None:
            query = query.where(AccessLogRow.seq < before)
        async with self.database.session() as session:
            rows = (await session.scalars(query.order_by(AccessLogRow.seq.desc()).limit(first + 1))).all()
        entries = tuple(_entry(row) for row in rows[:first])
        return AccessLogPage(entries, len(rows) > first, entries[-1].cursor if entries else None)

    async def count(self, citizen_id: str) -> int:
        async with self.database.session() as session:
            return int(await session.scalar(
                select(func.count()).select_from(AccessLogRow).where(AccessLogRow.citizen_id == citizen_id)
            ) or 0)

    async def checkpoint(self, citizen_id: str, *, now: datetime | None = None) -> str:
        """A signed statement of the chain's current head (seq and hash), to keep outside the database."""
        if self.signer is None:
            raise RuntimeError("checkpoints need the platform signer; build AccessLog with signer=")
        async with self.database.session() as session:
            last = (await session.execute(
                select(AccessLogRow.seq, AccessLogRow.hash).where(AccessLogRow.citizen_id == citizen_id)
                .order_by(AccessLogRow.seq.desc()).limit(1)
            )).first()
        return self.signer.sign({
            "type": "onestop.access-log-head.v1", "citizen": citizen_id, "seq": last[0] if last else 0,
            "hash": last[1] if last else GENESIS, "at": _timestamp(now or datetime.now(UTC)),
        }, typ=CHECKPOINT_TYP)

    async def verify_chain(self, citizen_id: str, *, checkpoint: str | None = None) -> int:
        """Check a citizen's whole chain (and that it still holds a signed ``checkpoint``); the number of
        entries, or ``ChainBroken`` at the first bad one."""
        async with self.database.session() as session:
            rows = (await session.scalars(
                select(AccessLogRow).where(AccessLogRow.citizen_id == citizen_id).order_by(AccessLogRow.seq)
            )).all()
        prev = GENESIS
        for expected_seq, row in enumerate(rows, start=1):
            if row.seq != expected_seq:
                raise ChainBroken(citizen_id, expected_seq, "entry missing (sequence gap)")
            if row.prev_hash != prev:
                raise ChainBroken(citizen_id, row.seq, "does not link to the previous entry")
            if entry_hash(row) != row.hash:
                raise ChainBroken(citizen_id, row.seq, "content changed after it was written")
            prev = row.hash
        if checkpoint is not None:
            self._check_point(citizen_id, checkpoint, rows)
        return len(rows)

    def _check_point(self, citizen_id: str, checkpoint: str, rows: Sequence[AccessLogRow]) -> None:
        if self.signer is None:
            raise RuntimeError("checkpoints need the platform signer; build AccessLog with signer=")
        head = self.signer.verify(checkpoint, typ=CHECKPOINT_TYP).payload
        if head.get("citizen") != citizen_id:
            raise ChainBroken(citizen_id, 0, "the checkpoint belongs to another citizen's log")
        seq = int(head.get("seq", 0))
        if seq == 0:
            return
        if len(rows) < seq:
            raise ChainBroken(citizen_id, seq, "entries up to a signed checkpoint were removed")
        if rows[seq - 1].hash != head.get("hash"):
            raise ChainBroken(citizen_id, seq, "the log was rewritten up to a signed checkpoint")

    async def verify_all(self) -> int:
        """Verify every citizen's chain; the total number of entries checked."""
        async with self.database.session() as session:
            citizen_ids = (await session.scalars(select(AccessLogRow.citizen_id).distinct())).all()
        total = 0
        for citizen_id in citizen_ids:
            total += await self.verify_chain(citizen_id)
        return total
