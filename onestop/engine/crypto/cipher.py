"""Field encryption at rest: AES-256-GCM, key id in every ciphertext, associated data binding it to its row.

Ciphertext format (ASCII, fits a TEXT column): ``v1.<kid>.<base64url(nonce || ciphertext+tag)>``.
The associated data names the table, column and row key (``profiles.hkid|<citizen id>``), so a ciphertext
copied into another citizen's row, or into another column, fails to decrypt instead of leaking.
Keys live only in configuration; a rotated deployment keeps old keys in the ring to read old rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onestop.config import Settings
from onestop.engine.errors import DecryptionFailed

_VERSION = "v1"
_NONCE = 12


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(key: bytes) -> str:
    """A short public name for a key (derived, so it reveals nothing usable about the key)."""
    return _b64e(hashlib.sha256(b"onestop-kid:" + key).digest()[:6])


class KeyRing:
    """Data keys by id: encrypt with the current one, decrypt with whichever the ciphertext names."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"current key id {current!r} is not in the key ring")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"data key {kid!r} must be 32 bytes (AES-256)")
            if "." in kid:
                raise ValueError(f"key id {kid!r} must not contain '.'")
        self._keys = dict(keys)
        self.current = current
        # Derived keys by (key id, label): a pseudonym derives its key on every call otherwise (two HMACs for one).
        self._derived: dict[tuple[str, str], bytes] = {}

    @classmethod
    def single(cls, key: bytes, *, previous: tuple[bytes, ...] = ()) -> KeyRing:
        """A ring whose current key is ``key``; ``previous`` keys still decrypt older rows."""
        keys = {key_id(old): old for old in previous}
        keys[key_id(key)] = key
        return cls(keys, key_id(key))

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The current ``ONESTOP_DATA_KEY`` and the rotated-out ``ONESTOP_DATA_KEY_PREVIOUS`` keys."""
        return cls.single(settings.key_bytes("data_key"), previous=settings.previous_key_bytes("data_key"))

    def key(self, kid: str) -> bytes | None:
        return self._keys.get(kid)

    def derive(self, label: str) -> bytes:
        """A separate 32-byte key for another purpose (HMAC references), derived from the current key."""
        return self._derive(self.current, label)

    def derive_all(self, label: str) -> tuple[bytes, ...]:
        """``derive(label)`` under every key in the ring, the current key's first (to recognise old pseudonyms)."""
        order = [self.current, *(kid for kid in self._keys if kid != self.current)]
        return tuple(self._derive(kid, label) for kid in order)

    def _derive(self, kid: str, label: str) -> bytes:
        found = self._derived.get((kid, label))
        if found is None:
            found = hmac.new(self._keys[kid], b"onestop-derive:" + label.encode(), hashlib.sha256).digest()
            if len(self._derived) < 1024:  # labels are the code's own, a few dozen
                self._derived[(kid, label)] = found
        return found


class FieldCipher:
    """Encrypts single values (text or JSON) for one column of one row."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def encrypt(self, plaintext: bytes, aad: str) -> str:
        kid = self.ring.current
        key = self.ring.key(kid)
        assert key is not None  # the ring checks its current key exists
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(key).encrypt(nonce, plaintext, aad.encode())
        return f"{_VERSION}.{kid}.{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, aad: str) -> bytes:
        try:
            version, kid, body = token.split(".", 2)
        except ValueError:
            raise DecryptionFailed("stored value is not an onestop ciphertext (was it written unencrypted?)") from None
        if version != _VERSION:
            raise DecryptionFailed(f"unsupported ciphertext version {version!r}")
        key = self.ring.key(kid)
        if key is None:
            raise DecryptionFailed(
                f"stored value was encrypted with data key {kid!r}, which is not configured; "
                "after a key rotation, list the old key in ONESTOP_DATA_KEY_PREVIOUS to read it"
            )
        raw = _b64d(body)
        try:
            return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())
        except InvalidTag:
            raise DecryptionFailed(
                f"stored value fails authentication for {aad.split('|', 1)[0]}: wrong key, or the value was "
                "altered or moved from another row"
            ) from None

    def encrypt_json(self, value: Any, aad: str) -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(), aad)

    def decrypt_json(self, token: str, aad: str) -> Any:
        return json.loads(self.decrypt(token, aad))

    def pseudonym(self, label: str, value: str) -> str:
        """A stable keyed pseudonym (HMAC-SHA256, hex) for ``value``; reversible only with the database."""
        return hmac.new(self.ring.derive(label), value.encode(), hashlib.sha256).hexdigest()[:32]

    def pseudonyms(self, label: str, value: str) -> tuple[str, ...]:
        """``pseudonym(label, value)`` under every key in the ring, current first (for keys rotated since)."""
        return tuple(hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
                     for key in self.ring.derive_all(label))
