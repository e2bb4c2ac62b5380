"""Staff roles and departments with a platform-wide meaning (department roles live with their services)."""

from __future__ import annotations

PLATFORM_DEPARTMENT = "PLATFORM"
"""The department code of the platform team (``definitions/departments/platform.yaml``)."""

PLATFORM_ROLE = "platform"
"""The staff role that opens the platform team's inbox: joins to the sandbox programme and enquiries."""
