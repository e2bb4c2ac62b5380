"""The dev IdP's signing key and pairwise subjects, both created once under ``<data dir>/keys``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onestop.config import Settings

_KEY_FILE = "dev-idp-ed25519.pem"
_PAIRWISE_FILE = "dev-idp-pairwise.key"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _create_once(path: Path, content: bytes) -> bytes:
    """Write ``content`` unless the file exists (two processes starting at once keep the first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return content


class DevSigningKey:
    """The dev IdP's Ed25519 key; ``kid`` is its RFC 7638 JWK thumbprint."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._public_jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(public)}
        # RFC 7638: the thumbprint hashes the required members in lexicographic order, no whitespace.
        canonical = json.dumps(self._public_jwk, separators=(",", ":"), sort_keys=True).encode()
        self.kid = _b64url(hashlib.sha256(canonical).digest())

    @classmethod
    def generate(cls) -> DevSigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, settings: Settings) -> DevSigningKey:
        """The key under ``<data dir>/keys``, created on first use so tokens survive restarts."""
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        stored = _create_once(settings.data_dir / "keys" / _KEY_FILE, pem)
        key = serialization.load_pem_private_key(stored, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{settings.data_dir / 'keys' / _KEY_FILE} is not an Ed25519 private key")
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}

    def sign(self, claims: Mapping[str, Any], *, typ: str = "at+jwt") -> str:
        return jwt.encode(dict(claims), self._private, algorithm="EdDSA", headers={"kid": self.kid, "typ": typ})


def pairwise_secret(settings: Settings) -> bytes:
    """The platform secret behind pairwise subjects, created once under ``<data dir>/keys``."""
    return _create_once(settings.data_dir / "keys" / _PAIRWISE_FILE, secrets.token_bytes(32))


def pairwise_sub(secret: bytes, sector: str, local_id: str) -> str:
    """OIDC pairwise subject: HMAC-SHA256(secret, sector | id), base64url. The API never sees the dev id."""
    return _b64url(hmac.new(secret, f"{sector}|{local_id}".encode(), hashlib.sha256).digest())


def citizen_sub(settings: Settings, citizen_id: str) -> str:
    """The ``sub`` the dev IdP issues for a test citizen (seeders use it to key e-ME profiles)."""
    return pairwise_sub(pairwise_secret(settings), settings.oidc_audience, f"citizen:{citizen_id}")


def staff_sub(settings: Settings, staff_id: str) -> str:
    """The ``sub`` the dev IdP issues for a staff member."""
    return pairwise_sub(pairwise_secret(settings), settings.oidc_audience, f"staff:{staff_id}")
