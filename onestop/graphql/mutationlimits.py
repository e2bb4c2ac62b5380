"""Mutations are counted per field, not per request: thirty aliased ``startApplication`` fields are thirty actions.

A request may carry at most ``max_mutation_fields`` top-level mutation fields (a validation rule, cached with the
document); the rate limiter counted the request once, so each further field takes one more token from the same
caller's bucket before anything runs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
)
from graphql.validation import ASTValidationRule

from onestop.engine import NO_EVENTS, RATE_LIMITED, Buckets, EventKind, EventSink
from onestop.graphql.errors import ErrorCode, RateLimited
from onestop.graphql.ratelimit import CALLER, CLIENT_IP


def mutation_fields(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> int:
    """How many top-level fields a mutation operation runs (through fragments)."""

    def count(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += selection.name.value != "__typename"
            elif isinstance(selection, InlineFragmentNode):
                total += count(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    total += count(fragment.selection_set, seen | {selection.name.value})
        return total

    return count(operation.selection_set, frozenset())


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


@functools.cache
def mutation_rule(max_fields: int) -> type[ASTValidationRule]:
    # One rule class per limit for the whole process, so cached validation results stay valid.
    class MutationFieldLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragments = fragments_of(context.document)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            if node.operation is not OperationType.MUTATION:
                return
            fields = mutation_fields(node, self._fragments)
            if fields > max_fields:
                self.report_error(GraphQLError(
                    f"This request runs {fields} mutations; at most {max_fields} are allowed in one request. "
                    "Send the others in further requests.",
                    node, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value}))

    return MutationFieldLimit


async def spend_extra_mutations(context: Any, extra: int) -> GraphQLError | None:
    """Take ``extra`` more tokens from the caller's bucket (the request's GraphQL ``context``); the RATE_LIMITED
    error when they are spent, None when they were taken or the request is not rate limited."""
    state = _state(context)
    limited = state.get(CALLER) if state is not None else None
    if limited is None:
        return None
    buckets: Buckets = limited[0]
    wait = await buckets.take(limited[1], extra)
    if wait <= 0:
        return None
    RATE_LIMITED.labels("/graphql").inc()
    by = "subject" if limited[1].startswith("sub:") else "ip"
    _events(context).record(EventKind.RATE_LIMITED, ip=state.get(CLIENT_IP) if state else None,
                            path="/graphql", by=by)
    refused = RateLimited(max(1, math.ceil(wait)))
    return GraphQLError(refused.message, extensions=refused.extensions)


def _state(context: Any) -> dict[str, Any] | None:
    request = getattr(context, "request", None)
    scope = getattr(request, "scope", None)
    state = scope.get("state") if isinstance(scope, dict) else None
    return state if isinstance(state, dict) else None


def _events(context: Any) -> EventSink:
    engine = getattr(context, "engine", None)
    security = getattr(engine, "security", None)
    events = getattr(security, "events", None)
    return events if events is not None else NO_EVENTS
