"""Security events and anomaly detection: what happened (``events``), what is unusual (``detection`` with
``rules`` and ``baseline``), what operators and citizens do about it (``alerts``), and when it runs
(``activities``, ``schedules``)."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client

from onestop.config import Settings
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database
from onestop.engine.security.activities import SecurityActivities
from onestop.engine.security.alerts import OPERATOR_ROLE, Alert, CitizenAlert, SecurityAlerts, StepUpLocked
from onestop.engine.security.detection import Detector, DetectorState
from onestop.engine.security.events import (
    NO_EVENTS,
    EventKind,
    EventSink,
    SecurityEvent,
    SecurityEventLog,
    SecurityEvents,
)
from onestop.engine.security.health import SystemHealth, system_health
from onestop.engine.security.rules import AlertStatus, CitizenAnswer, Deviation, Finding, Rule, Severity, Thresholds
from onestop.engine.security.schedules import ensure_schedules, schedule_ids


@dataclass
class SecurityServices:
    """The recorder every call site reports to, the event log, the alerts, and the detector's activities."""

    events: SecurityEvents
    log: SecurityEventLog
    alerts: SecurityAlerts

    @classmethod
    def build(cls, database: Database, cipher: FieldCipher) -> SecurityServices:
        events = SecurityEvents(database, cipher)
        return cls(events, SecurityEventLog(database), SecurityAlerts(database, events.citizen_key))

    async def health(self, catalogue_version: str, client: Client | None, settings: Settings) -> SystemHealth:
        return await system_health(catalogue_version, client, settings.temporal_task_queue,
                                   settings.temporal_namespace, self.log, self.alerts)

    def activities(self, detector: Detector | None = None) -> SecurityActivities:
        return SecurityActivities(self.events, self.log, self.alerts, detector or Detector())


__all__ = [
    "NO_EVENTS",
    "OPERATOR_ROLE",
    "Alert",
    "AlertStatus",
    "CitizenAlert",
    "CitizenAnswer",
    "Detector",
    "DetectorState",
    "Deviation",
    "EventKind",
    "EventSink",
    "Finding",
    "Rule",
    "SecurityActivities",
    "SecurityAlerts",
    "SecurityEvent",
    "SecurityEventLog",
    "SecurityEvents",
    "SecurityServices",
    "Severity",
    "StepUpLocked",
    "SystemHealth",
    "Thresholds",
    "ensure_schedules",
    "schedule_ids",
]
