"""Anonymous drafts: an application started without a login costs one row, and no workflow, until its citizen
first acts on it.

Anyone can start a `login: none` service, so each start must be cheap: the engine records the draft here (the
pinned snapshot's content hash, the resume token's reference, and, encrypted, what the workflow will start with)
and answers from the snapshot. The citizen's first action starts the workflow (update-with-start, same id, same
pinned version) and the row goes. Drafts nobody acted on are deleted after ``ONESTOP_ANONYMOUS_DRAFT_TTL_SECONDS``.
A service's own draft expiry, when sooner, ends the draft as it ends a workflow's: from then until the row goes, the
draft reads as ``EXPIRED`` and refuses every action, instead of vanishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import AnonymousDraftRow, Database
from onestop.workflows.interpreter import Applicant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    """A recorded anonymous draft: everything needed to render it, and to start its workflow later."""

    application_id: str
    citizen_ref: str
    service_id: str
    content_hash: str
    citizen: Applicant
    client_mutation_id: str | None
    created_at: datetime
    expires_at: datetime
    # Ended by its service's draft expiry (it reads as EXPIRED); kept until the time to live deletes it.
    expired: bool = False


class DraftStore:
    """The ``anonymous_drafts`` table; the payload column holds ciphertext bound to its application id."""

    def __init__(self, database: Database, cipher: FieldCipher, ttl: timedelta) -> None:
        self.database = database
        self.cipher = cipher
        self.ttl = ttl
        self._task: asyncio.Task[None] | None = None

    async def create(self, draft: Draft) -> None:
        payload = self.cipher.encrypt_json({"citizen": asdict(draft.citizen),
                                            "clientMutationId": draft.client_mutation_id}, _aad(draft.application_id))
        async with self.database.session() as session:
            session.add(AnonymousDraftRow(
                application_id=draft.application_id, citizen_ref=draft.citizen_ref, service_id=draft.service_id,
                content_hash=draft.content_hash, payload=payload, created_at=draft.created_at,
                expires_at=draft.expires_at))

    async def get(self, application_id: str, *, now: datetime | None = None) -> Draft | None:
        """The draft; ``expired`` once its service's draft expiry has passed. None past the time to live (then it
        is as good as deleted, whether or not the sweep has run)."""
        now = now or datetime.now(UTC)
        async with self.database.session() as session:
            row = await session.get(AnonymousDraftRow, application_id)
        if row is None or self.kept_until(row.created_at, row.expires_at) <= now:
            return None
        payload = self.cipher.decrypt_json(row.payload, _aad(application_id))
        return Draft(row.application_id, row.citizen_ref, row.service_id, row.content_hash,
                     Applicant(**payload["citizen"]), payload["clientMutationId"], row.created_at, row.expires_at,
                     expired=row.expires_at <= now)

    def kept_until(self, created_at: datetime, expires_at: datetime) -> datetime:
        """When a draft's row goes: at its expiry, or, when its service's expiry came sooner, at the time to live
        (until then it answers as the expired application its workflow would have been)."""
        return max(expires_at, created_at + self.ttl)

    async def remove(self, application_id: str) -> None:
        """Forget the draft: its workflow runs now and holds its state."""
        async with self.database.session() as session:
            await session.execute(delete(AnonymousDraftRow).where(AnonymousDraftRow.application_id == application_id))

    async def purge(self, *, now: datetime | None = None) -> int:
        """Delete every draft past its time to live (see ``kept_until``); returns how many went."""
        now = now or datetime.now(UTC)
        async with self.database.session() as session:
            result = await session.execute(
                delete(AnonymousDraftRow).where(AnonymousDraftRow.expires_at <= now,
                                                AnonymousDraftRow.created_at <= now - self.ttl))
        return int(getattr(result, "rowcount", 0) or 0)

    def start_sweeping(self, interval: float) -> None:
        """Purge expired drafts every ``interval`` seconds (every process may: a delete of expired rows is
        idempotent)."""
        if interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sweep(interval), name="anonymous-drafts")

    async def _sweep(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                deleted = await self.purge()
                if deleted:
                    log.info("deleted %d expired anonymous drafts", deleted)
            except Exception:  # the next sweep tries again; expired drafts already read as absent
                log.warning("sweeping expired anonymous drafts failed", exc_info=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def sweep_interval(ttl: timedelta) -> float:
    """How often to sweep: a tenth of the time to live, between a second and an hour."""
    return min(max(ttl.total_seconds() / 10, 1.0), 3600.0)


def _aad(application_id: str) -> str:
    return f"anonymous_drafts.payload|{application_id}"
