"""Operators' view: security alerts (a Relay connection) and system health."""

from __future__ import annotations

import strawberry

from onestop.engine import AlertStatus, Severity
from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.operations.types import (
    SecurityAlert,
    SystemHealthReport,
    require_operator,
)
from onestop.graphql.relay import Connection, connection_from_slice, page_of


@strawberry.type
class OperationsQuery:
    @field(description="Security alerts, newest first, filtered by status and severity (operators only).")
    async def security_alerts(self, info: Info_, status: AlertStatus | None = None,
                              severity: Severity | None = None, first: int | None = None,
                              after: str | None = None) -> Connection[SecurityAlert]:
        await require_operator(info)
        page = page_of(first, after)
        alerts, total = await info.context.engine.security.alerts.page(
            status=status, severity=severity, limit=page.limit, offset=page.offset)
        return connection_from_slice([SecurityAlert(record=a) for a in alerts], page, total)

    @field(description="Catalogue version, Temporal reachability, worker backlog, delivery failures (operators only).")
    async def system_health(self, info: Info_) -> SystemHealthReport:
        await require_operator(info)
        engine = info.context.engine
        client = engine.applications.client if engine.applications is not None else None
        return SystemHealthReport.of(await engine.security.health(engine.catalogue.catalogue.version, client,
                                                                  engine.settings))
