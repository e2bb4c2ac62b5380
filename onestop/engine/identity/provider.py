"""An identity provider served by this process itself (in development, the built-in one at ``/dev-idp``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from starlette.types import ASGIApp

from onestop.engine.security.events import EventSink


@dataclass(frozen=True)
class RegisteredClient:
    """A relying party registered with the identity provider: exact redirect URIs, a confidential secret."""

    client_id: str
    redirect_uris: tuple[str, ...]
    secret_sha256: str


@dataclass(frozen=True)
class SandboxLogin:
    """A login a sandbox provides: one of its provider's staff (``department`` is the sandbox's namespace) or
    one of its synthetic test citizens (``date_of_birth`` set, face enrolled with consent when provisioned)."""

    login: str
    kind: str  # "staff" or "citizen"
    name: str
    department: str
    roles: tuple[str, ...] = ()
    date_of_birth: date | None = None
    created_at: datetime | None = None
    age_group: str | None = None


class SandboxDirectory(Protocol):
    """Where an identity provider finds the clients and logins that sandboxes were provisioned with."""

    async def registered_client(self, client_id: str) -> RegisteredClient | None: ...

    async def sandbox_login(self, login: str) -> SandboxLogin | None: ...


@dataclass(frozen=True)
class IssuedToken:
    """An access token the identity provider issued, as its token endpoint would answer."""

    access_token: str
    expires_in: int
    acr: str


@runtime_checkable
class TestCitizenIssuer(Protocol):
    """An identity provider that signs a sandbox's synthetic test citizens in for its provider's staff, who preview
    their services as them (the caller has checked the test citizen is of the staff member's own sandbox)."""

    async def sign_in_test_citizen(
        self, login: str, *, selfie: str | None = None, binding: str | None = None
    ) -> IssuedToken:
        """A token for test citizen ``login``: at the face level when ``selfie`` matches their test face (else
        ``InvalidInput`` with ``FACE_MISMATCH``), otherwise at the standard level; ``binding`` becomes ``txn``."""
        ...

    def face_samples(self, citizen_id: str) -> dict[str, str] | None:
        """The test face samples (``match``, ``mismatch``) of a test citizen, when the face matcher has them."""
        ...


def test_citizen_issuer(provider: object) -> TestCitizenIssuer | None:
    """``provider`` when it signs sandbox test citizens in (the development identity provider does)."""
    return provider if isinstance(provider, TestCitizenIssuer) else None


class EmbeddedIdentityProvider(Protocol):
    """What the rest of the process needs of an in-process identity provider: its routes, issuer and keys."""

    issuer: str
    app: ASGIApp
    events: EventSink  # where sign-ins are reported
    directory: SandboxDirectory | None  # sandboxes' clients and logins, when the process has sandboxes

    def jwks(self) -> dict[str, Any]: ...
