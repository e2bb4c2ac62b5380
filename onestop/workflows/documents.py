"""The documents' retention: a Temporal Schedule runs this every hour; one activity deletes what is due.

Due dates live in the database (set when an application is decided or withdrawn), so a run is short, its history
tiny, and a run missed while no worker was up is made good by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

PURGE_DOCUMENTS_ACTIVITY = "onestop.purge_documents"


@dataclass(frozen=True)
class PurgeDocumentsInput:
    """Nothing yet; a dataclass so fields can be added without breaking running schedules."""


@dataclass(frozen=True)
class PurgeDocumentsResult:
    deleted: int


@workflow.defn(name="PurgeDocuments")
class PurgeDocumentsWorkflow:
    @workflow.run
    async def run(self, request: PurgeDocumentsInput) -> PurgeDocumentsResult:
        result: PurgeDocumentsResult = await workflow.execute_activity(
            PURGE_DOCUMENTS_ACTIVITY,
            request,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=2)),
            result_type=PurgeDocumentsResult,
        )
        return result
