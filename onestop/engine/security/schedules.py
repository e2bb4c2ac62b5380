"""The Temporal Schedules of operations, registered idempotently when a worker starts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from onestop.config import Settings
from onestop.workflows.operations import DetectAnomaliesWorkflow, DetectInput, PurgeInput, PurgeSecurityEventsWorkflow


def schedule_ids(task_queue: str) -> tuple[str, str]:
    """The detector's and the retention's schedule ids; per task queue, so deployments sharing a namespace
    (and tests on one server) keep their own."""
    return f"onestop-anomaly-detector-{task_queue}", f"onestop-security-retention-{task_queue}"


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the schedules that are missing and bring existing ones to the settings (interval, retention);
    the ids created (none when a worker before did it already)."""
    detector_id, retention_id = schedule_ids(settings.temporal_task_queue)
    wanted = {
        detector_id: Schedule(
            action=ScheduleActionStartWorkflow(DetectAnomaliesWorkflow.run, DetectInput(), id=f"{detector_id}-run",
                                               task_queue=settings.temporal_task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(
                seconds=settings.anomaly_interval_seconds))]),
            # A slow run is never doubled: the next one waits for the following period.
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
        retention_id: Schedule(
            action=ScheduleActionStartWorkflow(
                PurgeSecurityEventsWorkflow.run, PurgeInput(settings.security_event_retention_days),
                id=f"{retention_id}-run", task_queue=settings.temporal_task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
    }
    created = []
    for schedule_id, schedule in wanted.items():
        try:
            await client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(_replace_with(schedule))
            continue
        created.append(schedule_id)
    return created


def _replace_with(schedule: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    return update
