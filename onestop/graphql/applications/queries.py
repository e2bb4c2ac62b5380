"""Reading applications: by id (owner or the department's staff) and the citizen's own list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import strawberry

from onestop.engine import ApplicationView, IndexEntry, IndexPage, IndexPosition, NotFound, Principal
from onestop.graphql.applications.services import application_key, application_service, caller_ref
from onestop.graphql.applications.types import Application, ApplicationStatus
from onestop.graphql.context import Info_
from onestop.graphql.errors import Unauthenticated
from onestop.graphql.fields import field
from onestop.graphql.relay import Connection, KeysetPage, connection_from_keyset, keyset_page_of, register_node


async def _application(info: Info_, key: str) -> Application | None:
    principal = await info.context.principal()
    if principal is None and info.context.resume_token is None:
        raise Unauthenticated()
    service = application_service(info)
    try:
        if principal is not None and principal.is_staff:
            view = await service.get_for_staff(principal, key)
        elif principal is not None:
            # A citizen reads their own, and those made for them that they may see (relationships.history_kinds).
            engine = info.context.engine
            kinds = await engine.relationships.history_kinds(await engine.data.citizens.ensure(principal.sub))
            view = await service.get(key, await caller_ref(info, key), as_subject=kinds)
        else:
            view = await service.get(key, await caller_ref(info, key))
    except NotFound:
        return None
    return Application.of(view)


async def _node(info: Info_, key: str) -> Application | None:
    return await _application(info, key)


register_node("Application", _node)


async def viewer_applications(info: Info_, principal: Principal, first: int | None, after: str | None,
                              status: ApplicationStatus | None) -> Connection[Application]:
    """``viewer { applications }``: the citizen's applications, newest first."""
    page = index_page_of(first, after)
    service = application_service(info)
    engine = info.context.engine
    citizen_ref = await engine.applicants.ref_of(principal)
    kinds = await engine.relationships.history_kinds(await engine.data.citizens.ensure(principal.sub))
    found = await service.list_for_citizen(citizen_ref, status=status.value if status else None, first=page.limit,
                                           after=page.after, acted_for=kinds)
    return index_connection(found, page, lambda entry: partial(service.get, entry.application_id, citizen_ref,
                                                               as_subject=kinds))


def index_page_of(first: int | None, after: str | None) -> KeysetPage[IndexPosition]:
    """``first``/``after`` of a list read from the application index (BAD_USER_INPUT when not valid)."""
    return keyset_page_of(first, after, IndexPosition.parse)


def index_connection(found: IndexPage, page: KeysetPage[IndexPosition],
                     loader: Callable[[IndexEntry], Callable[[], Awaitable[ApplicationView]]]
                     ) -> Connection[Application]:
    """A page of the application index as a connection; ``loader`` fetches an entry's full state on demand."""
    return connection_from_keyset(
        [(IndexPosition.of(entry).token(), from_index(entry, loader(entry))) for entry in found.entries], page,
        has_next_page=found.has_next_page, total_count=found.total_count)


def from_index(entry: IndexEntry, load: Callable[[], Awaitable[ApplicationView]]) -> Application:
    """A list entry answered from the index; fields beyond it query the workflow only when asked for."""
    return Application(summary=entry, load=load)


@strawberry.type
class ApplicationsQuery:
    @field(description="One application by id; null when unknown or not yours.")
    async def application(self, info: Info_, id: strawberry.ID) -> Application | None:
        key = application_key(str(id))
        return None if key is None else await _application(info, key)
