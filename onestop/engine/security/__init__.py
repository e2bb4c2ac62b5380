"""Security events and anomaly detection: what happened (``events``), what is unusual (``detection`` with
``rules`` and ``baseline``), what operators and citizens do about it (``alerts``), and when it runs
(``activities``, ``schedules``)."""

from __future__ import annotations

from dataclasses import dataclass

from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.db import Database
from onestop.engine.security.activities import SecurityActivities
from onestop.engine.security.alerts import Alert, CitizenAlert, SecurityAlerts, StepUpLocked
from onestop.engine.security.detection import Detector, DetectorState
from onestop.engine.security.events import (
    NO_EVENTS,
    EventKind,
    EventSink,
    SecurityEvent,
    SecurityEventLog,
    SecurityEvents,
)
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

    def activities(self, detector: Detector | None = None) -> SecurityActivities:
        return SecurityActivities(self.events, self.log, self.alerts, detector or Detector())


__all__ = [
    "NO_EVENTS",
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
    "Thresholds",
    "ensure_schedules",
    "schedule_ids",
]
