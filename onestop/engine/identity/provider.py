"""An identity provider served by this process itself (in development, the built-in one at ``/dev-idp``)."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.types import ASGIApp


class EmbeddedIdentityProvider(Protocol):
    """What the rest of the process needs of an in-process identity provider: its routes, issuer and keys."""

    issuer: str
    app: ASGIApp

    def jwks(self) -> dict[str, Any]: ...
