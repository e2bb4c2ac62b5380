"""Server-side sessions: the browser holds only a random id; what it names is AES-GCM encrypted in memory.

Tokens never reach the browser (OAuth 2.0 for Browser-Based Apps, backend-for-frontend). The store keeps
ciphertext so a memory dump or a future shared store holds nothing readable without the key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "onestop_session"
IDLE_SECONDS = 30 * 60
MAX_SESSIONS = 100_000


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
    flash: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.token is not None and self.token_expires_at > time.time()


class SessionStore:
    """Encrypted sessions in memory, keyed by a hash of the cookie's random id, dropped when idle."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._aead = AESGCM(key)
        self._clock = clock
        self._items: dict[str, tuple[float, bytes]] = {}

    @staticmethod
    def _slot(session_id: str) -> str:
        # Stored by hash: whoever reads the store cannot replay its keys as cookies.
        return hashlib.sha256(session_id.encode()).hexdigest()

    def load(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        slot = self._slot(session_id)
        item = self._items.get(slot)
        if item is None or item[0] + IDLE_SECONDS < self._clock():
            self._items.pop(slot, None)
            return None
        blob = item[1]
        # The slot is the associated data: a ciphertext moved to another slot does not decrypt.
        plain = self._aead.decrypt(blob[:12], blob[12:], slot.encode())
        values: dict[str, Any] = json.loads(plain)
        return Session(**values)

    def save(self, session_id: str, session: Session) -> None:
        slot = self._slot(session_id)
        nonce = secrets.token_bytes(12)
        blob = nonce + self._aead.encrypt(nonce, json.dumps(asdict(session)).encode(), slot.encode())
        if len(self._items) >= MAX_SESSIONS:
            self._expire()
        self._items[slot] = (self._clock(), blob)

    def delete(self, session_id: str) -> None:
        self._items.pop(self._slot(session_id), None)

    def new_id(self) -> str:
        return secrets.token_urlsafe(32)

    def _expire(self) -> None:
        cutoff = self._clock() - IDLE_SECONDS
        self._items = {k: v for k, v in self._items.items() if v[0] >= cutoff}
        while len(self._items) >= MAX_SESSIONS:
            self._items.pop(next(iter(self._items)))

    def raw(self, session_id: str) -> bytes | None:
        """The stored ciphertext (for tests that check nothing readable is kept)."""
        item = self._items.get(self._slot(session_id))
        return item[1] if item else None
