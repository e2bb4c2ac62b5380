"""Who is calling: the verified identity behind an access token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

PrincipalKind = Literal["citizen", "staff"]


def _frozen_claims(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(claims))


@dataclass(frozen=True)
class Principal:
    """A verified caller. ``sub`` is pairwise per platform: it never reveals the IdP's own user id.

    ``kind`` is "staff" when the token carries a ``department`` claim, otherwise "citizen".
    ``claims`` keeps every verified claim (read-only) for the few callers that need more.
    """

    sub: str
    kind: PrincipalKind
    acr: str
    amr: tuple[str, ...]
    auth_time: datetime
    department: str | None = None
    roles: tuple[str, ...] = ()
    txn: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.auth_time.tzinfo is None:
            raise ValueError("Principal.auth_time must be timezone-aware")
        # A read-only view so a frozen Principal cannot be changed through its claims.
        object.__setattr__(self, "claims", _frozen_claims(self.claims))

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_citizen(self) -> bool:
        return self.kind == "citizen"

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def in_department(self, department: str) -> bool:
        return self.is_staff and self.department == department


def is_staff(principal: Principal | None) -> bool:
    """True for a verified staff member (a missing principal is nobody)."""
    return principal is not None and principal.is_staff


def has_role(principal: Principal | None, role: str, *, department: str | None = None) -> bool:
    """True when ``principal`` is staff holding ``role`` (and, if given, belongs to ``department``)."""
    if principal is None or not principal.is_staff or role not in principal.roles:
        return False
    return department is None or principal.department == department
