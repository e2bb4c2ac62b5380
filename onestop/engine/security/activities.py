"""The worker side of detection and retention: the activities the schedules' workflows call."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity

from onestop.engine.security.alerts import SecurityAlerts
from onestop.engine.security.detection import Detector
from onestop.engine.security.events import SecurityEventLog, SecurityEvents
from onestop.workflows.operations import DetectInput, DetectResult, OperationsActivity, PurgeInput, PurgeResult

log = logging.getLogger(__name__)


@dataclass
class SecurityActivities:
    events: SecurityEvents
    log: SecurityEventLog
    alerts: SecurityAlerts
    detector: Detector

    async def detect_once(self, now: datetime | None = None) -> DetectResult:
        """Read the events since the last run, raise the findings, keep the new state (one transaction)."""
        at = now or datetime.now(UTC)
        await self.events.flush()  # this process's own queue first, so its events are not a period late
        window = await self.log.window(at - self.detector.t.window)
        async with self.alerts.database.session() as session:
            state = await self.alerts.load_state(session)
            fresh = sum(1 for e in window if e.id > state.watermark)
            findings = self.detector.run(state, window, at)
            await self.alerts.add_findings(session, findings, at)
            await self.alerts.save_state(session, state, at)
        for finding in findings:
            log.warning("security alert %s %s on %s", finding.severity, finding.rule, finding.series)
        return DetectResult(events=fresh, alerts=len(findings), watermark=state.watermark)

    @activity.defn(name=OperationsActivity.DETECT_ANOMALIES)
    async def detect_anomalies(self, request: DetectInput) -> DetectResult:
        return await self.detect_once()

    @activity.defn(name=OperationsActivity.PURGE_SECURITY_EVENTS)
    async def purge_security_events(self, request: PurgeInput) -> PurgeResult:
        deleted = await self.log.purge(datetime.now(UTC) - timedelta(days=request.retention_days))
        return PurgeResult(deleted)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.detect_anomalies, self.purge_security_events]
