"""An identity provider served by this process itself (in development, the built-in one at ``/dev-idp``)."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.types import ASGIApp

from onestop.engine.security.events import EventSink


class EmbeddedIdentityProvider(Protocol):
    """What the rest of the process needs of an in-process identity provider: its routes, issuer and keys."""

    issuer: str
    app: ASGIApp
    events: EventSink  # where sign-ins are reported

    def jwks(self) -> dict[str, Any]: ...
