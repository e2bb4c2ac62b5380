"""Who runs the sandbox programme: the platform team's department and staff role, and the service to join."""

from __future__ import annotations

from onestop.engine.identity.roles import PLATFORM_DEPARTMENT, PLATFORM_ROLE

JOIN_SERVICE = "join-sandbox-programme"
"""The service whose approval provisions a provider's sandbox."""

__all__ = ["JOIN_SERVICE", "PLATFORM_DEPARTMENT", "PLATFORM_ROLE"]
