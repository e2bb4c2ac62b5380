"""Face verification for the top assurance level: a pluggable matcher and the citizens' enrolments.

A production deployment plugs in a biometric vendor behind ``FaceMatcher``. ``DevFaceMatcher`` is the
deterministic stand-in of the development identity provider; how it works is documented on the class
so tests and frontends can produce matching and non-matching selfies without a camera.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class FaceError(Exception):
    """A face operation was refused; ``code`` is the OAuth-style error the dev IdP answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FaceTemplate:
    """An enrolled template; ``data`` is opaque to everything except the matcher that made it."""

    citizen_id: str
    data: bytes


@dataclass(frozen=True)
class MatchResult:
    score: float
    matched: bool


class FaceMatcher(Protocol):
    """A biometric matcher: make a template at enrolment, compare a selfie with it at sign-in."""

    def enrol(self, citizen_id: str, template_source: str | None) -> FaceTemplate: ...

    def match(self, template: FaceTemplate, selfie: str) -> MatchResult: ...


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FaceError("invalid_selfie", "the selfie must be base64 text") from exc


class DevFaceMatcher:
    """Deterministic development matcher.

    - template of a citizen = SHA-256(``"face:" + citizen id``) (the enrolment source is ignored: the
      dev "face" of a citizen is their id);
    - a selfie is base64 (standard or url-safe) of 32 bytes; the citizen's matching selfie is
      HMAC-SHA256(key=template, ``"dev-selfie"``), base64url (``sample_for``);
    - score = share of equal bits between the selfie and that expected HMAC (1.0 for the exact sample,
      about 0.5 for anybody else's), matched when ``score >= THRESHOLD`` (0.9).
    ``mismatch_sample_for`` gives a well-formed selfie of somebody else (for tests of the failure path).
    """

    THRESHOLD = 0.9
    _SELFIE_BYTES = 32

    @staticmethod
    def _template_bytes(citizen_id: str) -> bytes:
        return hashlib.sha256(f"face:{citizen_id}".encode()).digest()

    @staticmethod
    def _expected(template: bytes) -> bytes:
        return hmac.new(template, b"dev-selfie", hashlib.sha256).digest()

    def enrol(self, citizen_id: str, template_source: str | None = None) -> FaceTemplate:
        return FaceTemplate(citizen_id=citizen_id, data=self._template_bytes(citizen_id))

    def match(self, template: FaceTemplate, selfie: str) -> MatchResult:
        raw = _b64decode(selfie)
        if len(raw) != self._SELFIE_BYTES:
            raise FaceError("invalid_selfie", f"the selfie must encode {self._SELFIE_BYTES} bytes")
        expected = self._expected(template.data)
        differing = sum(bin(a ^ b).count("1") for a, b in zip(raw, expected, strict=True))
        score = 1.0 - differing / (8 * self._SELFIE_BYTES)
        return MatchResult(score=round(score, 4), matched=score >= self.THRESHOLD)

    def sample_for(self, citizen_id: str) -> str:
        """The selfie that matches ``citizen_id``."""
        return _b64url(self._expected(self._template_bytes(citizen_id)))

    def mismatch_sample_for(self, citizen_id: str) -> str:
        """A well-formed selfie that does not match ``citizen_id``."""
        return _b64url(self._expected(self._template_bytes(f"not:{citizen_id}")))


@dataclass(frozen=True)
class FaceEnrolment:
    """One citizen's template and the consent it was enrolled under (biometrics need explicit consent)."""

    citizen_id: str
    template: FaceTemplate
    consented_at: datetime
    consent_source: str  # "fixture" (seeded test citizen) or "request" (POST /faces/enrol)


class FaceEnrolments:
    """Enrolled templates by citizen (in memory: the development IdP's state restarts with the process)."""

    def __init__(self, matcher: FaceMatcher) -> None:
        self.matcher = matcher
        self._enrolments: dict[str, FaceEnrolment] = {}

    def enrol(self, citizen_id: str, *, consent: bool, consented_at: datetime, source: str = "request",
              template_source: str | None = None) -> FaceEnrolment:
        if consent is not True:
            raise FaceError("consent_required", "enrolling a face template needs the citizen's explicit consent "
                                                '("consent": true)')
        if consented_at.tzinfo is None:
            raise ValueError("consented_at must be timezone-aware")
        enrolment = FaceEnrolment(
            citizen_id=citizen_id,
            template=self.matcher.enrol(citizen_id, template_source),
            consented_at=consented_at,
            consent_source=source,
        )
        self._enrolments[citizen_id] = enrolment
        return enrolment

    def withdraw(self, citizen_id: str) -> bool:
        """Delete the template; True when there was one."""
        return self._enrolments.pop(citizen_id, None) is not None

    def get(self, citizen_id: str) -> FaceEnrolment | None:
        return self._enrolments.get(citizen_id)

    def verify(self, citizen_id: str, selfie: str | None) -> MatchResult:
        """Match ``selfie`` against the enrolled template; ``FaceError`` when it cannot or does not match."""
        enrolment = self._enrolments.get(citizen_id)
        if enrolment is None:
            raise FaceError("face_not_enrolled", "no face template is enrolled for this citizen "
                                                 "(POST /dev-idp/faces/enrol with consent first)")
        if not selfie:
            raise FaceError("selfie_required", "face verification needs a 'selfie'")
        result = self.matcher.match(enrolment.template, selfie)
        if not result.matched:
            raise FaceError("face_mismatch", "the selfie does not match the enrolled face")
        return result
