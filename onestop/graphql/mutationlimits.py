"""Mutations are counted per field, not per request: thirty aliased ``startApplication`` fields are thirty actions.

A request may carry at most ``max_mutation_fields`` top-level mutation fields (a validation rule, cached with the
document); the rate limiter counted the request once, so each further field takes one more token from the same
caller's bucket before anything runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
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
from strawberry.extensions import AddValidationRules, SchemaExtension

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


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


@functools.cache
def _rule(max_fields: int) -> type[ASTValidationRule]:
    # One rule class per limit for the whole process, so cached validation results stay valid.
    class MutationFieldLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragments = _fragments(context.document)

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


class MutationFieldLimit(AddValidationRules):
    def __init__(self, *, max_fields: int) -> None:
        super().__init__([_rule(max_fields)])


class MutationFieldCount(SchemaExtension):
    """Takes one token per mutation field beyond the first from the caller's bucket before execution."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        state = _state(context.context)
        limited = state.get(CALLER) if state is not None else None
        if document is None or context.result is not None or limited is None:
            yield
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                      and (context.operation_name is None or (d.name and d.name.value == context.operation_name))]
        extra = 0
        if len(operations) == 1 and operations[0].operation is OperationType.MUTATION:
            extra = mutation_fields(operations[0], _fragments(document)) - 1
        if extra > 0:
            buckets: Buckets = limited[0]
            wait = await buckets.take(limited[1], extra)
            if wait > 0:
                RATE_LIMITED.labels("/graphql").inc()
                by = "subject" if limited[1].startswith("sub:") else "ip"
                _events(context.context).record(EventKind.RATE_LIMITED, ip=state.get(CLIENT_IP) if state else None,
                                                path="/graphql", by=by)
                refused = RateLimited(max(1, math.ceil(wait)))
                context.result = ExecutionResult(data=None, errors=[
                    GraphQLError(refused.message, extensions=refused.extensions)])
        yield


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
