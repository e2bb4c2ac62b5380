"""The department's inbox of submitted applications."""

from __future__ import annotations

from functools import partial

import strawberry

from onestop.engine import Forbidden as EngineForbidden
from onestop.graphql.applications.queries import from_index
from onestop.graphql.applications.services import application_service
from onestop.graphql.applications.types import Application, ApplicationStatus
from onestop.graphql.context import Info_
from onestop.graphql.errors import Forbidden, Unauthenticated
from onestop.graphql.fields import field
from onestop.graphql.relay import Connection, connection_from_slice, page_of


@strawberry.type
class DepartmentQuery:
    @field(description="Applications submitted to the caller's department, newest first (staff only).")
    async def department_inbox(self, info: Info_, first: int | None = None, after: str | None = None,
                               status: ApplicationStatus | None = None) -> Connection[Application]:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        page = page_of(first, after)
        service = application_service(info)
        try:
            rows = await service.department_inbox(principal, status=status.value if status else None, limit=1000)
        except EngineForbidden as exc:
            raise Forbidden(exc.message) from exc
        window = rows[page.offset: page.offset + page.limit]
        return connection_from_slice([from_index(r, partial(service.get_for_staff, principal, r.application_id))
                                      for r in window], page, len(rows))
