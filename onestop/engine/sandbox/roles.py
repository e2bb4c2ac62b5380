"""Who runs the sandbox programme: the platform team's department and staff role."""

from __future__ import annotations

PLATFORM_DEPARTMENT = "PLATFORM"
"""The department code of the platform team (``definitions/departments/platform.yaml``)."""

PLATFORM_ROLE = "platform"
"""The staff role that opens the platform team's inbox: joins to the sandbox programme and enquiries."""

JOIN_SERVICE = "join-sandbox-programme"
"""The service whose approval provisions a provider's sandbox."""
