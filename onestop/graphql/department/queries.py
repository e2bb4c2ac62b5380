"""The department's inbox of submitted applications."""

from __future__ import annotations

from functools import partial

import strawberry

from onestop.engine import Forbidden as EngineForbidden
from onestop.graphql.applications.queries import index_connection, index_page_of
from onestop.graphql.applications.services import application_service
from onestop.graphql.applications.types import Application, ApplicationStatus
from onestop.graphql.context import Info_
from onestop.graphql.errors import Forbidden, Unauthenticated
from onestop.graphql.fields import field
from onestop.graphql.relay import Connection


@strawberry.type
class DepartmentQuery:
    @field(description="Applications submitted to the caller's department, newest first (staff only).")
    async def department_inbox(self, info: Info_, first: int | None = None, after: str | None = None,
                               status: ApplicationStatus | None = None) -> Connection[Application]:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        page = index_page_of(first, after)
        service = application_service(info)
        try:
            found = await service.department_inbox(principal, status=status.value if status else None,
                                                   first=page.limit, after=page.after)
        except EngineForbidden as exc:
            raise Forbidden(exc.message) from exc
        return index_connection(found, page,
                                lambda entry: partial(service.get_for_staff, principal, entry.application_id))
