"""Limits every request passes before a resolver runs: body size, depth, aliases, cost, suggestions.

The GraphQL ones are applied by one extension over cached documents (``guard.py``). Strawberry extensions are given
as classes or factories, never instances: an instance would be shared by concurrent requests (STYLE.md).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast_untyped,
)
from graphql.validation import ASTValidationRule
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions.max_aliases import create_validator as create_alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as create_depth_validator

from onestop.graphql.errors import ErrorCode
from onestop.graphql.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_cost: int = 5_000
    max_mutation_fields: int = 5


def _page_size(field: FieldNode, variables: Mapping[str, Any]) -> int:
    # A list field's children are paid once per item: `first` is the page size of a connection; a
    # connection without `first` returns the default page.
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return min(max(int(value.value), 1), MAX_PAGE_SIZE)  # larger is refused as BAD_USER_INPUT
        if isinstance(value, VariableNode):
            given = _whole_number(variables.get(value.name.value))
            return DEFAULT_PAGE_SIZE if given is None else min(max(given, 1), MAX_PAGE_SIZE)
    selections = field.selection_set.selections if field.selection_set else ()
    is_connection = any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections)
    return DEFAULT_PAGE_SIZE if is_connection else 1


def _whole_number(value: Any) -> int | None:
    """``value`` as GraphQL's ``Int`` coerces it (a whole float such as 100.0 is 100), or None when it is no Int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _with_defaults(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request's variables plus the operation's defaults for those it leaves out, as execution will see them."""
    defaults = {definition.variable.name.value: value_from_ast_untyped(definition.default_value)
                for definition in operation.variable_definitions or ()
                if definition.default_value is not None and definition.variable.name.value not in variables}
    return {**defaults, **variables} if defaults else variables


def _selection_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
                    variables: Mapping[str, Any], seen: frozenset[str]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            child = _selection_cost(selection.selection_set, fragments, variables, seen)
            total += 1 + _page_size(selection, variables) * child
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(selection.selection_set, fragments, variables, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # cycles are reported by NoFragmentCycles
                total += _selection_cost(fragment.selection_set, fragments, variables, seen | {name})
    return total


def query_cost(document: DocumentNode, variables: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Estimated cost per operation: one per field, children multiplied by the page size on connections."""
    definitions = document.definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    costs: dict[str, int] = {}
    for definition in definitions:
        if isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else "anonymous"
            costs[name] = _selection_cost(definition.selection_set, fragments,
                                          _with_defaults(definition, variables or {}), frozenset())
    return costs


def too_expensive(costs: Mapping[str, int], max_cost: int) -> list[GraphQLError]:
    """One error per operation whose estimated cost (``query_cost``) exceeds ``max_cost``.

    Checked just before execution rather than as a validation rule: the cost depends on the request's variables
    (``first: $n``), and validation results are cached per document.
    """
    return [
        GraphQLError(
            f"Operation '{name}' is too expensive: estimated cost {cost}, limit {max_cost}. "
            "Ask for fewer fields or smaller pages (first), or split the query.",
            extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value, "cost": cost, "maxCost": max_cost},
        )
        for name, cost in costs.items() if cost > max_cost
    ]


@functools.cache
def depth_rule(max_depth: int) -> type[ASTValidationRule]:
    """One rule class per limit for the whole process (strawberry's limiters build a new class per instance)."""
    return create_depth_validator(max_depth, None, None)


@functools.cache
def alias_rule(max_aliases: int) -> type[ASTValidationRule]:
    return create_alias_validator(max_aliases)


# graphql-core writes " Did you mean 'a', 'b', or 'c'?" (fields, arguments, types, enum values, input fields),
# sometimes mid-message; its own switch (``hide_suggestions``) is not reachable through strawberry.
_SUGGESTION = re.compile(r" Did you mean [^'?]*(?:'[^']*'(?:,? or |, )?)+\?")


def hide_suggestions(result: object) -> None:
    """Production: no "Did you mean ...?" in the errors of ``result``, which would spell out the schema
    introspection hides (run as the operation ends, by ``guard.Guard``)."""
    for error in getattr(result, "errors", None) or ():
        error.message = _SUGGESTION.sub("", error.message)


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt  # paths (and what lies under them) that enforce a limit of their own
        self._exempt_paths = frozenset(exempt)
        self._exempt_prefixes = tuple(p.rstrip("/") + "/" for p in exempt)

    def _refusal(self) -> bytes:
        return json.dumps({"errors": [{
            "message": f"The request body is larger than {self.max_bytes} bytes; send a smaller query.",
            "extensions": {"code": "PAYLOAD_TOO_LARGE", "maxBytes": self.max_bytes},
        }]}).encode()

    async def _send_413(self, send: Send) -> None:
        body = self._refusal()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path in self._exempt_paths or path.startswith(self._exempt_prefixes):
            await self.app(scope, receive, send)
            return
        lengths, chunked = 0, False
        framed = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                lengths += 1
                # Only plain digits frame a body (``int`` also takes "-1", "+5", " 5 " and "1_0").
                framed = value.isdigit()
                if framed and int(value) > self.max_bytes:
                    await self._send_413(send)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if framed and lengths == 1 and not chunked:
            # The server reads no more than a valid Content-Length: nothing to count while streaming.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._send_413(send)
        except Exception:
            if too_large and not started:
                await self._send_413(send)
                return
            raise


class _BodyTooLarge(Exception):
    pass
