"""The documents' retention schedule, registered idempotently when a worker starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
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

from onestop.engine.documents.service import DocumentService
from onestop.workflows.documents import (
    PURGE_DOCUMENTS_ACTIVITY,
    PurgeDocumentsInput,
    PurgeDocumentsResult,
    PurgeDocumentsWorkflow,
)


def schedule_id(task_queue: str) -> str:
    return f"onestop-documents-retention-{task_queue}"


def retention_schedule(task_queue: str, every: timedelta = timedelta(hours=1)) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PurgeDocumentsWorkflow.run,
            PurgeDocumentsInput(),
            id=f"{schedule_id(task_queue)}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_document_schedule(client: Client, task_queue: str) -> bool:
    """Create the retention schedule, or bring an existing one up to date; True when it was created."""
    schedule = retention_schedule(task_queue)
    try:
        await client.create_schedule(schedule_id(task_queue), schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id(task_queue)).update(update)
        return False
    return True


class DocumentActivities:
    def __init__(self, documents: DocumentService) -> None:
        self.documents = documents

    @activity.defn(name=PURGE_DOCUMENTS_ACTIVITY)
    async def purge_documents(self, request: PurgeDocumentsInput) -> PurgeDocumentsResult:
        deleted = 0
        while True:  # in batches, so one run clears any backlog
            batch = await self.documents.purge_due(datetime.now(UTC))
            deleted += batch
            if batch == 0:
                return PurgeDocumentsResult(deleted)
