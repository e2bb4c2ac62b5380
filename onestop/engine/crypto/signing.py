"""Platform signatures: compact JWS (EdDSA / Ed25519) over RFC 8785 canonical JSON.

Used for consent artefacts, revocation receipts and submitted applications. The verification keys are
published as a JWKS (``Signer.jwks()``) so departments can check a submission without calling us.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from onestop.catalogue.canonical import canonical_json as _jcs
from onestop.config import Settings
from onestop.engine.errors import SignatureInvalid


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not text or any(c in text for c in "=+/ \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of ``value``; the exact bytes a signature covers.

    The catalogue's writer (C encoders where they write what JCS writes, the ``rfc8785`` reference elsewhere, and
    its errors): the same bytes, several times faster on submissions and the hash chains' entries."""
    return _jcs(value)


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _kid(key: Ed25519PublicKey) -> str:
    return _b64e(hashlib.sha256(_public_raw(key)).digest()[:12])


@dataclass(frozen=True)
class Verified:
    """A verified JWS: its protected header and payload."""

    header: Mapping[str, Any]
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class SignedSubmission:
    """What a department receives: the canonical payload and its JWS."""

    payload: Mapping[str, Any]
    jws: str


class Signer:
    """Signs with the current Ed25519 key; verifies with it and any previous (rotated) keys."""

    def __init__(self, seed: bytes, *, previous: Sequence[bytes] = ()) -> None:
        if len(seed) != 32:
            raise ValueError("the signing key must be a 32-byte Ed25519 seed")
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.kid = _kid(self._private.public_key())
        self._public: dict[str, Ed25519PublicKey] = {}
        for old in previous:
            public = Ed25519PrivateKey.from_private_bytes(old).public_key()
            self._public[_kid(public)] = public
        self._public[self.kid] = self._private.public_key()

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        """The current ``ONESTOP_SIGNING_KEY``; ``ONESTOP_SIGNING_KEY_PREVIOUS`` keys still verify (and stay
        in the JWKS) so signatures made before a rotation remain checkable."""
        return cls(settings.key_bytes("signing_key"), previous=settings.previous_key_bytes("signing_key"))

    def sign(self, payload: Mapping[str, Any], *, typ: str) -> str:
        """Compact JWS of the canonical form of ``payload``; ``typ`` names what is signed."""
        header = {"alg": "EdDSA", "kid": self.kid, "typ": typ}
        signing_input = f"{_b64e(canonical_json(header))}.{_b64e(canonical_json(dict(payload)))}"
        signature = self._private.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64e(signature)}"

    def verify(self, jws: str, *, typ: str | None = None) -> Verified:
        """Check a compact JWS made by this platform; raises ``SignatureInvalid`` saying why."""
        parts = jws.split(".")
        if len(parts) != 3:
            raise SignatureInvalid("not a compact JWS (expected three dot-separated parts)")
        try:
            header = json.loads(_b64d(parts[0]))
            payload = json.loads(_b64d(parts[1]))
        except ValueError:
            raise SignatureInvalid("JWS parts are not base64url-encoded JSON") from None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise SignatureInvalid("JWS header and payload must be JSON objects")
        # RFC 8725 2.1: never let the token choose the algorithm.
        if header.get("alg") != "EdDSA":
            raise SignatureInvalid(f"algorithm {header.get('alg')!r} is not accepted; only EdDSA")
        public = self._public.get(str(header.get("kid")))
        if public is None:
            raise SignatureInvalid(f"unknown signing key {header.get('kid')!r}; fetch the current JWKS (if this "
                                   "platform signed it before a key rotation, list the old key in "
                                   "ONESTOP_SIGNING_KEY_PREVIOUS)")
        if typ is not None and header.get("typ") != typ:
            raise SignatureInvalid(f"expected a {typ!r} signature, got {header.get('typ')!r}")
        try:
            public.verify(_b64d(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
        except (InvalidSignature, ValueError):
            raise SignatureInvalid("signature does not match: the document was altered or signed elsewhere") from None
        return Verified(header=header, payload=payload)

    def jwks(self) -> dict[str, Any]:
        """The public verification keys (RFC 8037 OKP JWKs)."""
        return {
            "keys": [
                {"kty": "OKP", "crv": "Ed25519", "x": _b64e(_public_raw(key)), "kid": kid, "use": "sig", "alg": "EdDSA"}
                for kid, key in self._public.items()
            ]
        }

    def sign_submission(
        self,
        *,
        application_id: str,
        service_slug: str,
        service_hash: str,
        department: str,
        citizen_ref: str,
        answers: Mapping[str, Any],
        consents: Sequence[str],
        assurance: str,
        auth_time: datetime | None,
        submitted_at: datetime,
        reference_number: str | None = None,
        provenance: Sequence[Mapping[str, Any]] = (),
        computed: Mapping[str, Any] | None = None,
        documents: Sequence[Mapping[str, Any]] = (),
        payments: Sequence[Mapping[str, Any]] = (),
        parties: Mapping[str, Any] | None = None,
    ) -> SignedSubmission:
        """Sign a submitted application; the signature covers answers, where each came from (``provenance``: per
        field its source, whether verified, whether the citizen changed a prefilled value and the original),
        the computed values the citizen saw, consents used and signer assurance."""
        payload: dict[str, Any] = {
            "type": "onestop.submission.v1",
            "applicationId": application_id,
            "referenceNumber": reference_number,
            "service": {"slug": service_slug, "contentHash": service_hash},
            "department": department,
            "citizen": citizen_ref,
            "answers": dict(answers),
            "provenance": [dict(entry) for entry in provenance],
            "computed": dict(computed or {}),
            "consents": sorted(consents),
            "signer": {"acr": assurance, "authTime": auth_time.isoformat() if auth_time else None},
            "submittedAt": submitted_at.isoformat(),
        }
        if documents:  # each attached file with its SHA-256, so the department can prove what it received
            payload["documents"] = [dict(entry) for entry in documents]
        if payments:
            # Only when fees were paid, so every other submission keeps its exact shape.
            payload["payments"] = [dict(entry) for entry in payments]
        if parties:
            # Acted for someone else: who acted (``citizen`` is the actor) and whom it is about, by reference.
            payload.update(parties)
        try:
            jws = self.sign(payload, typ="onestop-submission+jws")
        except (TypeError, ValueError) as exc:  # rfc8785 refuses NaN, non-string keys, unknown types
            raise SignatureInvalid(f"answers cannot be signed: {exc}; use JSON values only") from exc
        return SignedSubmission(payload=payload, jws=jws)

    def verify_submission(self, jws: str) -> Mapping[str, Any]:
        """The payload of a valid submission signature."""
        return self.verify(jws, typ="onestop-submission+jws").payload
