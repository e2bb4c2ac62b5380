"""Security alerts as operators and citizens see them, and the system's health."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from onestop.catalogue.text import Lang, localized
from onestop.engine import OPERATOR_ROLE, Alert, AlertStatus, CitizenAlert, CitizenAnswer, Severity, SystemHealth
from onestop.engine import Deviation as EngineDeviation
from onestop.graphql.context import Info_
from onestop.graphql.errors import Forbidden, Unauthenticated
from onestop.graphql.fields import field
from onestop.graphql.relay import Node, from_global_id, register_node, to_global_id

# Derived from the engine's terms: resolvers return the engine's members, which strawberry names as below.
AlertSeverity = strawberry.enum(Severity, name="AlertSeverity", description="How urgent an alert is.")
SecurityAlertStatus = strawberry.enum(AlertStatus, name="SecurityAlertStatus",
                                      description="OPEN, then ACKNOWLEDGED, then RESOLVED or FALSE_POSITIVE.")
SecurityAlertAnswer = strawberry.enum(CitizenAnswer, name="SecurityAlertAnswer",
                                      description="A citizen's answer: it was them, or it was not.")
ALERT_TYPE = "SecurityAlert"


async def require_operator(info: Info_) -> str:
    """The operator's subject; UNAUTHENTICATED without a login, FORBIDDEN for anyone else."""
    principal = await info.context.principal()
    if principal is None:
        raise Unauthenticated()
    if not principal.is_staff or not principal.has_role(OPERATOR_ROLE):
        raise Forbidden(f"This needs a staff sign-in with the '{OPERATOR_ROLE}' role.")
    return principal.sub


def alert_key(global_id: str) -> str | None:
    parsed = from_global_id(global_id)
    return parsed[1] if parsed is not None and parsed[0] == ALERT_TYPE else None


@strawberry.type(description="A feature that deviated: observed against normal, and from where it alerts.")
class AlertFeature:
    feature: str
    observed: float
    expected: float = strawberry.field(description="What is normal (a learned mean or peers' median; 0 for rules).")
    threshold: float = strawberry.field(description="The value from which the detector alerts.")
    score: float = strawberry.field(description="How far: robust deviations above normal, or multiples of a limit.")

    @classmethod
    def of(cls, d: EngineDeviation) -> AlertFeature:
        return cls(feature=d.feature, observed=d.observed, expected=d.expected, threshold=d.threshold, score=d.score)


@strawberry.type(description="An explained anomaly for operators: what deviated, how much, and the events behind it.")
class SecurityAlert(Node):
    record: strawberry.Private[Alert]

    @field(description="Opaque, stable global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id(ALERT_TYPE, self.record.id))

    @field(description="The rule or learned baseline that raised it, e.g. face_mismatch_burst, staff_bulk_read.")
    def rule(self) -> str:
        return self.record.rule

    @field()
    def severity(self) -> Severity:
        return self.record.severity

    @field()
    def status(self) -> AlertStatus:
        return self.record.status

    @field(description="What it is about: citizen:<pseudonym>, ip:<pseudonym>, staff:<pseudonym>, provider:<id>, "
                       "service:<slug> or platform.")
    def series(self) -> str:
        return self.record.series

    @field(description="The features that deviated, most telling first.")
    def features(self) -> list[AlertFeature]:
        return [AlertFeature.of(d) for d in self.record.features]

    @field(description="The security events behind the alert (ids in the security event log).")
    def event_ids(self) -> list[str]:
        return [str(i) for i in self.record.event_ids]

    @field(description="Counts and context, e.g. {\"attempts\": 5} or {\"catalogueVersion\": \"...\"}.")
    def facts(self) -> JSON:
        return cast(JSON, dict(self.record.facts))

    @field(description="One line explaining why it was raised.")
    def explanation(self) -> str:
        return "; ".join(f"{d.feature} = {d.observed:g} (normal {d.expected:g}, alerts from {d.threshold:g})"
                         for d in self.record.features)

    @field()
    def opened_at(self) -> datetime:
        return self.record.opened_at

    @field()
    def updated_at(self) -> datetime:
        return self.record.updated_at

    @field(description="Until when face step-up is locked for the citizen concerned, if it is.")
    def locked_until(self) -> datetime | None:
        return self.record.lock_until

    @field()
    def note(self) -> str | None:
        return self.record.note

    @field(description="How many citizens it concerns.")
    def citizens_concerned(self) -> int:
        return self.record.citizens

    @field(description="How many of them answered \"this wasn't me\".")
    def citizens_disowned(self) -> int:
        return self.record.disowned


@strawberry.type(description="A security alert about the citizen, in plain language.")
class CitizenSecurityAlert:
    record: strawberry.Private[CitizenAlert]
    lang: strawberry.Private[Lang]

    @field(description="Pass it to answerSecurityAlert.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id(ALERT_TYPE, self.record.id))

    @field(description="e.g. \"Someone tried to confirm your face 5 times and failed\".")
    def title(self) -> str:
        return localized(self.record.title, self.lang) or self.record.title["en"]

    @field()
    def body(self) -> str:
        return localized(self.record.body, self.lang) or self.record.body["en"]

    @field()
    def raised_at(self) -> datetime:
        return self.record.opened_at

    @field(description="The citizen's answer so far, if any.")
    def answer(self) -> CitizenAnswer | None:
        return self.record.answer


@strawberry.type(description="The platform's state at a glance (operators only).")
class SystemHealthReport:
    catalogue_version: str
    temporal_reachable: bool
    worker_backlog: int | None = strawberry.field(
        description="Workflow tasks waiting on the task queue; null when Temporal does not report it.")
    delivery_failures_24h: int = strawberry.field(
        name="deliveryFailures24h", description="Failed deliveries to departments in the last 24 hours.")
    open_alerts: int

    @classmethod
    def of(cls, health: SystemHealth) -> SystemHealthReport:
        return cls(catalogue_version=health.catalogue_version, temporal_reachable=health.temporal_reachable,
                   worker_backlog=health.worker_backlog, delivery_failures_24h=health.delivery_failures_24h,
                   open_alerts=health.open_alerts)


async def _alert_node(info: Info_, key: str) -> Node | None:
    principal = await info.context.principal()
    if principal is None or not principal.has_role(OPERATOR_ROLE) or not principal.is_staff:
        return None
    try:
        return SecurityAlert(record=await info.context.engine.security.alerts.get(key))
    except Exception:  # unknown looks like not yours: None either way
        return None


register_node(ALERT_TYPE, _alert_node)
