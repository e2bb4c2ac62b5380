"""What an operator checks first: which catalogue is served, whether Temporal answers, the worker's backlog,
recent delivery failures and open alerts. Every probe is bounded in time and reports instead of failing."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from onestop.engine.security.alerts import SecurityAlerts
from onestop.engine.security.events import EventKind, SecurityEventLog
from onestop.engine.security.rules import AlertStatus

log = logging.getLogger(__name__)
PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class SystemHealth:
    catalogue_version: str
    temporal_reachable: bool
    worker_backlog: int | None  # None when Temporal is unreachable or does not report it
    delivery_failures_24h: int
    open_alerts: int


async def system_health(catalogue_version: str, client: Client | None, task_queue: str, namespace: str,
                        events: SecurityEventLog, alerts: SecurityAlerts) -> SystemHealth:
    reachable, backlog = False, None
    if client is not None:
        try:
            response = await asyncio.wait_for(client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=namespace, task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, report_stats=True)), PROBE_SECONDS)
            reachable = True
            if response.HasField("stats"):
                backlog = int(response.stats.approximate_backlog_count)
        except Exception:  # a probe reports; the reason goes to the log
            log.warning("system health: Temporal probe failed", exc_info=True)
    since = datetime.now(UTC) - timedelta(hours=24)
    failures = await events.count(EventKind.DELIVERY_FAILED, since)
    _, open_alerts = await alerts.page(status=AlertStatus.OPEN, limit=1)
    return SystemHealth(catalogue_version, reachable, backlog, failures, open_alerts)
