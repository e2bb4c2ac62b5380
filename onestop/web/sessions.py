"""Server-side sessions: the browser holds only a random id; what it names is AES-GCM ciphertext in a store.

Tokens never reach the browser (OAuth 2.0 for Browser-Based Apps, backend-for-frontend). The store keeps only
ciphertext, bound to a hash of the id, so whoever reads it (a memory dump, the database) holds nothing readable
without the key and no id to replay as a cookie. The rows live in process (``MemoryRows``) or wherever the
composition root points (the platform database, so every web replica behind a load balancer shares them).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "onestop_session"
IDLE_SECONDS = 30 * 60
# An unchanged session is written back at most this often: enough to keep it from idling out, without a write
# on every page view.
TOUCH_SECONDS = 60
MAX_SESSIONS = 100_000
# Every this many writes, a store drops the sessions idle too long.
EXPIRE_EVERY = 500


@dataclass
class Session:
    """What the server remembers for one browser."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str | None = None
    token_expires_at: float = 0.0
    # "citizen" or "staff"; roles and department for the console
    kind: str | None = None
    name: str | None = None
    roles: list[str] = field(default_factory=list)
    department: str | None = None
    # A sign-in in flight: PKCE verifier, state, where to go after
    login: dict[str, str] = field(default_factory=dict)
    # Application id -> resume token of a `login: none` draft
    resume: dict[str, str] = field(default_factory=dict)
    # A start asked for before sign-in, resumed after it
    pending_start: str | None = None
    # A mandate to grant once the citizen has confirmed their face (GrantMandateInput's variables)
    pending_mandate: dict[str, Any] = field(default_factory=dict)
    flash: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.token is not None and self.token_expires_at > time.time()


_FIELDS = {f.name for f in fields(Session)}


class SessionRows(Protocol):
    """Where sealed sessions are kept, by slot: (last touched, ciphertext)."""

    async def get(self, slot: str) -> tuple[float, bytes] | None: ...

    async def put(self, slot: str, blob: bytes, touched_at: float) -> None: ...

    async def delete(self, slot: str) -> None: ...

    async def expire(self, cutoff: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryRows:
    """Rows in this process only: one web process, or tests."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[float, bytes]] = {}

    async def get(self, slot: str) -> tuple[float, bytes] | None:
        return self.items.get(slot)

    async def put(self, slot: str, blob: bytes, touched_at: float) -> None:
        if len(self.items) >= MAX_SESSIONS and slot not in self.items:
            self.items.pop(min(self.items, key=lambda k: self.items[k][0]))
        self.items[slot] = (touched_at, blob)

    async def delete(self, slot: str) -> None:
        self.items.pop(slot, None)

    async def expire(self, cutoff: float) -> None:
        self.items = {k: v for k, v in self.items.items() if v[0] >= cutoff}

    async def aclose(self) -> None:
        return None


@dataclass
class Loaded:
    """A session as read: what it said (to skip writing it back unchanged) and when it was last written."""

    session: Session
    sealed: str
    touched_at: float


class SessionStore:
    """Encrypted sessions keyed by a hash of the cookie's random id, dropped when idle."""

    def __init__(self, key: bytes, rows: SessionRows | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._aead = AESGCM(key)
        self._clock = clock
        self.rows: SessionRows = rows or MemoryRows()
        self._writes = 0

    @staticmethod
    def _slot(session_id: str) -> str:
        # Stored by hash: whoever reads the store cannot replay its keys as cookies.
        return hashlib.sha256(session_id.encode()).hexdigest()

    async def read(self, session_id: str | None) -> Loaded | None:
        if not session_id:
            return None
        slot = self._slot(session_id)
        item = await self.rows.get(slot)
        if item is None:
            return None
        touched_at, blob = item
        if touched_at + IDLE_SECONDS < self._clock():
            await self.rows.delete(slot)
            return None
        # The slot is the associated data: a ciphertext moved to another slot does not decrypt.
        plain = self._aead.decrypt(blob[:12], blob[12:], slot.encode()).decode()
        values: dict[str, Any] = json.loads(plain)
        # A field an older version stored and this one dropped is ignored, not a failed page.
        session = Session(**{k: v for k, v in values.items() if k in _FIELDS})
        return Loaded(session, plain, touched_at)

    async def load(self, session_id: str | None) -> Session | None:
        loaded = await self.read(session_id)
        return None if loaded is None else loaded.session

    async def save(self, session_id: str, session: Session, *, previous: Loaded | None = None) -> None:
        """Seal and store; an unchanged session read moments ago is left as it is."""
        plain = json.dumps(asdict(session))
        now = self._clock()
        if previous is not None and previous.sealed == plain and previous.touched_at + TOUCH_SECONDS > now:
            return
        slot = self._slot(session_id)
        nonce = secrets.token_bytes(12)
        await self.rows.put(slot, nonce + self._aead.encrypt(nonce, plain.encode(), slot.encode()), now)
        self._writes += 1
        if self._writes % EXPIRE_EVERY == 0:
            await self.rows.expire(now - IDLE_SECONDS)

    async def delete(self, session_id: str) -> None:
        await self.rows.delete(self._slot(session_id))

    def new_id(self) -> str:
        return secrets.token_urlsafe(32)

    async def raw(self, session_id: str) -> bytes | None:
        """The stored ciphertext (for tests that check nothing readable is kept)."""
        item = await self.rows.get(self._slot(session_id))
        return item[1] if item else None
