"""Provisioning a sandbox programme provider's sandbox, once the platform team approves its application to join.

One workflow per approved application (its id is derived from the application's), running one idempotent
activity: approving twice, or a worker killed mid-provisioning, still gives one sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

PROVISION_SANDBOX = "provision_sandbox"


@dataclass(frozen=True)
class SandboxStaffRequest:
    name: str
    email: str


@dataclass(frozen=True)
class AgeGroupSpan:
    """An age group of the taxonomy, for the synthetic test citizens (one per group)."""

    id: str
    min_age: int
    max_age: int | None


@dataclass(frozen=True)
class ProvisionRequest:
    """What the approved application asked for. Personal values (staff, contact) travel encrypted by the codec."""

    application_id: str
    organisation: str
    sector: str
    region: str
    contact_name: str
    contact_email: str
    redirect_uris: list[str]
    staff: list[SandboxStaffRequest]
    age_groups: list[AgeGroupSpan]
    approved_by: str = ""
    planned_services: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProvisionResult:
    provider_id: str
    namespace: str
    client_id: str
    staff_logins: list[str]
    citizen_logins: list[str]


def provisioning_workflow_id(application_id: str) -> str:
    return f"sandbox-provision:{application_id}"


@workflow.defn(name="SandboxProvisioning")
class SandboxProvisioningWorkflow:
    @workflow.run
    async def run(self, request: ProvisionRequest) -> ProvisionResult:
        # The activity is idempotent by the application id, so every retry (after a killed worker's heartbeat
        # times out) converges on the same sandbox.
        result: ProvisionResult = await workflow.execute_activity(
            PROVISION_SANDBOX,
            request,
            result_type=ProvisionResult,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5)
            ),
        )
        return result
