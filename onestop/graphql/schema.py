"""The root schema: it only combines the domains.

Adding a domain: its package's ``__init__`` exports ``Query`` and, if it has
them, ``Mutation`` / ``Subscription`` strawberry types; then add ONE import line below and the package name to
``DOMAINS``. Nothing else changes: the root types are merged from every domain in ``DOMAINS``.
Node types register themselves for ``node(id:)`` with ``onestop.graphql.relay.register_node``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from onestop.graphql import (
    applications,
    appointments,
    catalogue,
    citizen,
    department,
    documents,
    notices,
    operations,
    payments,
    public,
    relationships,
    sandbox,
)
from onestop.graphql.context import Info_
from onestop.graphql.executor import use_enum_names
from onestop.graphql.fastpath import use_direct_resolvers
from onestop.graphql.fields import field
from onestop.graphql.guard import schema_extensions
from onestop.graphql.observability import observability_extensions, time_root_fields
from onestop.graphql.relay import Node, resolve_node
from onestop.graphql.security import Limits

DOMAINS: tuple[ModuleType, ...] = (
    catalogue, public, citizen, applications, department, operations, notices, appointments, documents, payments,
    sandbox,
    relationships,
)


@strawberry.type
class NodeQuery:
    @field(description="Refetch any object by its global id; null when unknown or not yours.")
    async def node(self, info: Info_, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, str(id))


class Schema(strawberry.Schema):
    """Strawberry's schema without its per-error logging.

    Client mistakes (bad input, auth, limits) are not server faults, and unexpected errors are already
    logged once, with their traceback, where they are masked (``errors.stamp_codes``).
    """

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        return None


def _merged(name: str, extra: tuple[type, ...] = ()) -> type | None:
    parts = tuple(getattr(domain, name) for domain in DOMAINS if hasattr(domain, name)) + extra
    return merge_types(name, parts) if parts else None


def build_schema(*, production: bool, limits: Limits | None = None) -> Schema:
    """The executable schema; production refuses introspection."""
    query = _merged("Query", (NodeQuery,)) or NodeQuery
    kwargs: dict[str, Any] = {}
    mutation = _merged("Mutation")
    if mutation is not None:
        kwargs["mutation"] = mutation
    subscription = _merged("Subscription")
    if subscription is not None:
        kwargs["subscription"] = subscription
    extensions = [*observability_extensions(), *schema_extensions(production=production, limits=limits or Limits())]
    schema = Schema(query=query, extensions=extensions, **kwargs)
    use_direct_resolvers(schema)
    use_enum_names(schema._schema)
    time_root_fields(schema._schema)  # after: it wraps the root fields' resolvers as they end up
    return schema


def export_sdl() -> str:
    """The schema in SDL, as committed in ``schema.graphql``."""
    return str(build_schema(production=False)).rstrip("\n") + "\n"
