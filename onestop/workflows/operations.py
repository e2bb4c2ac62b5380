"""Operations workflows run by Temporal Schedules: the anomaly detector and the security events' retention.

Each is one activity call: the detector's state (watermark, baselines) lives in the database, not in workflow
history, so a run is short, its history tiny, and any worker can pick up the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy


class OperationsActivity:
    DETECT_ANOMALIES = "onestop.detect_anomalies"
    PURGE_SECURITY_EVENTS = "onestop.purge_security_events"


@dataclass(frozen=True)
class DetectInput:
    """Nothing yet; a dataclass so fields can be added without breaking running schedules."""


@dataclass(frozen=True)
class DetectResult:
    events: int
    alerts: int
    watermark: int


@dataclass(frozen=True)
class PurgeInput:
    retention_days: int


@dataclass(frozen=True)
class PurgeResult:
    deleted: int


_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=2))


@workflow.defn(name="DetectAnomalies")
class DetectAnomaliesWorkflow:
    @workflow.run
    async def run(self, request: DetectInput) -> DetectResult:
        result: DetectResult = await workflow.execute_activity(
            OperationsActivity.DETECT_ANOMALIES, request, start_to_close_timeout=timedelta(minutes=2),
            retry_policy=_RETRY, result_type=DetectResult)
        return result


@workflow.defn(name="PurgeSecurityEvents")
class PurgeSecurityEventsWorkflow:
    @workflow.run
    async def run(self, request: PurgeInput) -> PurgeResult:
        result: PurgeResult = await workflow.execute_activity(
            OperationsActivity.PURGE_SECURITY_EVENTS, request, start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY, result_type=PurgeResult)
        return result


OPERATIONS_WORKFLOWS = (DetectAnomaliesWorkflow, PurgeSecurityEventsWorkflow)
