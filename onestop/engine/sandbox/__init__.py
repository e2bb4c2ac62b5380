"""The sandbox programme: service providers join, get an isolated sandbox, and author and test services in it."""

from onestop.engine.sandbox.catalogues import PROVIDER_ROLE, SandboxCatalogues, SandboxVersion, UploadResult
from onestop.engine.sandbox.live import LiveDefinitions
from onestop.engine.sandbox.promotions import Promotion, SandboxPromotions
from onestop.engine.sandbox.provisioning import SandboxActivities, SandboxProvisioner, exact_redirect_uri, ids_for
from onestop.engine.sandbox.roles import JOIN_SERVICE, PLATFORM_DEPARTMENT, PLATFORM_ROLE
from onestop.engine.sandbox.service import (
    ProvisioningFailed,
    Sandbox,
    SandboxService,
    age_group_spans,
    provision_request,
)
from onestop.engine.sandbox.uploads import UploadLimits

__all__ = [
    "JOIN_SERVICE",
    "PLATFORM_DEPARTMENT",
    "PLATFORM_ROLE",
    "PROVIDER_ROLE",
    "LiveDefinitions",
    "Promotion",
    "ProvisioningFailed",
    "Sandbox",
    "SandboxActivities",
    "SandboxCatalogues",
    "SandboxPromotions",
    "SandboxProvisioner",
    "SandboxService",
    "SandboxVersion",
    "UploadLimits",
    "UploadResult",
    "age_group_spans",
    "exact_redirect_uri",
    "ids_for",
    "provision_request",
]
