"""Step-up authentication (RFC 9470): demand a stronger or fresher sign-in for a critical action.

The decision uses only the verified token: its ``acr`` (ranked on the catalogue's assurance ladder),
its ``auth_time`` and, for transaction-bound face checks, its ``txn``. A client saying it honoured a
challenge counts for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from onestop.catalogue.assurance import AssuranceLadder
from onestop.engine import metrics
from onestop.engine.errors import EngineError
from onestop.engine.identity.principal import Principal


class InsufficientAuthentication(EngineError):
    """The token is too weak, too old or bound to another transaction.

    Maps to GraphQL ``extensions = {code: INSUFFICIENT_USER_AUTHENTICATION, acr_values, max_age}`` or an
    HTTP 401 with ``challenge_header(...)``. ``reason`` is one of ``acr``, ``max_age``, ``binding``.
    """

    code = "INSUFFICIENT_USER_AUTHENTICATION"

    def __init__(self, *, acr_values: str, max_age: int | None, reason: str, message: str,
                 binding: str | None = None) -> None:
        super().__init__(None, message)
        self.acr_values = acr_values
        self.max_age = max_age
        self.reason = reason
        self.binding = binding

    @property
    def extensions(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "acr_values": self.acr_values, "reason": self.reason}
        if self.max_age is not None:
            data["max_age"] = self.max_age
        if self.binding is not None:
            data["binding"] = self.binding
        return data

    def www_authenticate(self) -> str:
        return challenge_header(self.acr_values, self.max_age, self.message)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "'")


def challenge_header(acr_values: str, max_age: int | None = None,
                     description: str = "A different authentication level is required") -> str:
    """The RFC 9470 ``WWW-Authenticate`` value for a step-up challenge."""
    parts = [
        'Bearer error="insufficient_user_authentication"',
        f'error_description="{_quote(description)}"',
        f'acr_values="{_quote(acr_values)}"',
    ]
    if max_age is not None:
        parts.append(f'max_age="{max_age}"')
    return ", ".join(parts)


def _seconds(max_age: timedelta | float | None) -> int | None:
    if max_age is None:
        return None
    seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else float(max_age)
    if seconds < 0:
        raise ValueError("max_age cannot be negative")
    return int(seconds)


def require_assurance(
    principal: Principal,
    *,
    rank_of: Callable[[str], int | None],
    now: datetime,
    level: str | None = None,
    acr_of: Callable[[str], str] | None = None,
    acr_values: str | None = None,
    max_age: timedelta | float | None = None,
    binding: str | None = None,
) -> None:
    """Raise ``InsufficientAuthentication`` unless the principal's token meets the requirement.

    The required level is given either as ``level`` (a level id, with ``acr_of`` mapping it to its acr
    URI) or directly as ``acr_values`` (the acr URI). ``rank_of`` maps an acr URI to its rank
    (``AssuranceLadder.rank_of`` or ``Catalogue.acr_rank``); an acr it does not know (None or a negative
    rank) ranks below everything. ``max_age`` bounds
    the age of ``auth_time`` at ``now``. ``binding``, when given, must equal the token's ``txn``.
    """
    if (level is None) == (acr_values is None):
        raise TypeError("require_assurance needs exactly one of level= or acr_values=")
    if level is not None:
        if acr_of is None:
            raise TypeError("require_assurance(level=...) needs acr_of to name the level's acr")
        required_acr = acr_of(level)
    else:
        assert acr_values is not None
        required_acr = acr_values
    required_rank = rank_of(required_acr)
    if required_rank is None or required_rank < 0:
        raise ValueError(f"the required acr {required_acr!r} is not on the assurance ladder")
    max_age_seconds = _seconds(max_age)

    def challenge(reason: str, message: str) -> InsufficientAuthentication:
        metrics.STEPUP_CHALLENGES.labels(reason).inc()
        return InsufficientAuthentication(acr_values=required_acr, max_age=max_age_seconds, reason=reason,
                                          message=message, binding=binding)

    token_rank = rank_of(principal.acr)
    if token_rank is None or token_rank < required_rank:
        raise challenge("acr", f"this action needs a sign-in at {required_acr}; sign in again at that level")
    if max_age_seconds is not None:
        age = (now - principal.auth_time).total_seconds()
        if age > max_age_seconds:
            raise challenge("max_age", f"this action needs a sign-in within the last {max_age_seconds} "
                                       "seconds; sign in again")
    if binding is not None and principal.txn != binding:
        raise challenge("binding", "this action needs a sign-in bound to it; sign in again for this step "
                                   f"(binding {binding!r})")


__all__ = ["AssuranceLadder", "InsufficientAuthentication", "challenge_header", "require_assurance"]
