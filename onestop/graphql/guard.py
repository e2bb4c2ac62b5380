"""Every request's document checks, over a cache of parsed and validated documents: as strawberry's one extension,
or run in-line by ``Guard.execute``.

Frontends send the same few documents, so a document is parsed (under the token limit) and validated (the spec's
rules plus depth, aliases, mutation fields and, in production, introspection) once per query text; what depends
on the request alone runs every time: the cost (page sizes may come from variables) and the extra rate-limit
tokens of a request that runs several mutations. One extension instead of one per limit: strawberry wraps every
extension's hooks in context managers on every request, and a validation cache keyed by the document hashed the
whole syntax tree on every lookup. When the guard is a schema's only extension, ``Guard.execute`` runs the same
steps as strawberry's ``Schema.execute`` without its extension machinery (a third of a request's CPU).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

import strawberry
from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    execute,
    parse,
    specified_rules,
    visit,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language import Visitor
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.exceptions import MissingQueryError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as AllowedType
from strawberry.utils.operation import get_operation_type

from onestop.graphql.errors import stamp_codes
from onestop.graphql.executor import PlainExecutor, shared_subfields
from onestop.graphql.mutationlimits import fragments_of, mutation_fields, mutation_rule, spend_extra_mutations
from onestop.graphql.observability import count_errors, label_of, name_operation, operation_label
from onestop.graphql.security import Limits, alias_rule, depth_rule, hide_suggestions, query_cost, too_expensive

CACHED_DOCUMENTS = 512  # bounded: unique query texts cannot grow memory


@dataclass
class Checked:
    """A query text parsed and validated; ``costs`` is None when a page size comes from a variable."""

    document: DocumentNode
    errors: list[GraphQLError]
    costs: dict[str, int] | None
    mutations: dict[str | None, int] = field(default_factory=dict)  # extra mutation fields by operation name
    labels: dict[str | None, str] = field(default_factory=dict)  # the logs' operation label by operation name
    # Sub-selections collected once for every request of this document (see ``executor.PlainExecutor``); None when a
    # collection could depend on the request (a directive, such as ``@include(if: $x)``, or fragment variables).
    subfields: dict[tuple[Any, ...], Any] | None = None

    def label(self, operation_name: str | None) -> str:
        """The selected operation's label for the logs (``observability.operation_label``), once per name."""
        found = self.labels.get(operation_name)
        if found is None:
            found = label_of(self.document, operation_name)
            if len(self.labels) < 16:  # operation names are the client's: keep only a few
                self.labels[operation_name] = found
        return found

    def extra_mutations(self, operation_name: str | None) -> int:
        """Mutation fields beyond the first that the selected operation runs (0 unless exactly one matches)."""
        found = self.mutations.get(operation_name)
        if found is None:
            operations = [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)
                          and (operation_name is None or (d.name is not None and d.name.value == operation_name))]
            found = 0
            if len(operations) == 1 and operations[0].operation is OperationType.MUTATION:
                found = max(0, mutation_fields(operations[0], fragments_of(self.document)) - 1)
            if len(self.mutations) < 16:  # operation names are the client's: keep only a few
                self.mutations[operation_name] = found
        return found


class _VariablePageSize(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_argument(self, node: ArgumentNode, *_: object) -> None:
        if node.name.value == "first" and isinstance(node.value, VariableNode):
            self.found = True


def _static_costs(document: DocumentNode) -> dict[str, int] | None:
    finder = _VariablePageSize()
    visit(document, finder)
    return None if finder.found else query_cost(document)


class DocumentCache:
    """Parsed and validated documents by query text, for one schema and one set of rules (LRU)."""

    def __init__(self, rules: tuple[type[ASTValidationRule], ...], max_tokens: int,
                 maxsize: int = CACHED_DOCUMENTS) -> None:
        self.rules = rules
        self.max_tokens = max_tokens
        self.maxsize = maxsize
        self._entries: OrderedDict[str, Checked] = OrderedDict()

    def get(self, schema: GraphQLSchema, query: str) -> Checked | None:
        """The checked document, or None when the text does not parse (strawberry's parse then reports it)."""
        found = self.lookup(schema, query)
        return found if isinstance(found, Checked) else None

    def lookup(self, schema: GraphQLSchema, query: str) -> Checked | GraphQLError:
        """The checked document, or the syntax error (or token limit) that stopped its parse (never cached)."""
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            return error
        errors = validate_document(schema, document, self.rules)
        entry = Checked(document, errors, _static_costs(document) if not errors else None,
                        subfields=shared_subfields(document) if not errors else None)
        self._entries[query] = entry
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return entry


@dataclass(frozen=True)
class Guard:
    """A schema's checks: called, it is the factory of strawberry's per-request ``RequestGuard``; ``execute`` runs
    the same steps in-line."""

    cache: DocumentCache
    max_cost: int
    production: bool

    def __call__(self) -> RequestGuard:
        return RequestGuard(self)

    async def refusals(self, checked: Checked, operation_name: str | None, variables: dict[str, Any] | None,
                       context: Any) -> list[GraphQLError]:
        """What stops a valid operation just before it runs: its cost with these variables, then the rate-limit
        tokens of its extra mutation fields."""
        costs = checked.costs if checked.costs is not None else query_cost(checked.document, variables)
        errors = too_expensive(costs, self.max_cost)
        extra = 0 if errors else checked.extra_mutations(operation_name)
        if extra > 0:
            refused = await spend_extra_mutations(context, extra)
            errors = [refused] if refused is not None else []
        return errors

    def finish(self, result: object, context: Any) -> None:
        """As the operation ends: suggestions hidden (production), error codes stamped, then errors counted."""
        if self.production:
            hide_suggestions(result)
        stamp_codes(result, context)
        count_errors(result)

    async def execute(self, schema: strawberry.Schema, query: str | None, *, variables: dict[str, Any] | None,
                      context: Any, operation_name: str | None, allowed: Collection[AllowedType],
                      extensions: dict[str, Any] | None) -> ExecutionResult:
        """``schema.execute(...)`` when this guard is its only extension (``direct_execute``): the same result, errors,
        metrics and exceptions, without strawberry's per-request extension runner, execution context and hooks."""
        if not query:
            raise MissingQueryError
        try:
            return await self._execute(schema, query, variables, context, operation_name, allowed, extensions)
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            raise
        except Exception as exc:  # as strawberry does: the answer's one error, not finished
            errors = [exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)]
            schema._process_errors(errors)
            return ExecutionResult(data=None, errors=errors, extensions={})

    async def _execute(self, schema: strawberry.Schema, query: str, variables: dict[str, Any] | None, context: Any,
                       operation_name: str | None, allowed: Collection[AllowedType],
                       extensions: dict[str, Any] | None) -> ExecutionResult:
        checked = self.cache.lookup(schema._schema, query)
        if isinstance(checked, GraphQLError):
            return self._refused(schema, [checked], context)
        document = checked.document
        if operation_name is None:  # strawberry runs the first operation when none is named
            first = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
            operation_name = first.name.value if first is not None and first.name is not None else None
        try:
            operation_type = get_operation_type(document, operation_name)
        except RuntimeError as error:
            raise CannotGetOperationTypeError(operation_name) from error
        if operation_type not in allowed:
            raise InvalidOperationTypeError(operation_type)
        if checked.errors:
            return self._refused(schema, list(checked.errors), context)
        name_operation(checked.label(operation_name))
        errors = await self.refusals(checked, operation_name, variables, context)
        if errors:
            return self._refused(schema, errors, context)
        outcome = execute(schema._schema, document, root_value=None, context_value=context,
                          variable_values=variables, operation_name=operation_name,
                          is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # strawberry's, as its execute
                          executor_class=PlainExecutor, operation_extensions=extensions,
                          shared_subfields=checked.subfields)
        result = await outcome if isawaitable(outcome) else outcome
        if result.errors:
            schema._process_errors(result.errors)
        self.finish(result, context)
        return ExecutionResult(data=result.data, errors=result.errors, extensions={})

    def _refused(self, schema: strawberry.Schema, errors: list[GraphQLError], context: Any) -> ExecutionResult:
        schema._process_errors(errors)
        result = ExecutionResult(data=None, errors=errors, extensions={})
        self.finish(result, context)
        return result


def direct_execute(schema: BaseSchema) -> Callable[..., Awaitable[ExecutionResult]] | None:
    """``Guard.execute`` for ``schema`` when it answers exactly as ``schema.execute`` would: the guard is the
    schema's only extension (no tracing) and the schema has no directives (strawberry runs those as one more
    extension); None otherwise."""
    if not isinstance(schema, strawberry.Schema):
        return None
    extensions = schema.extensions
    if (len(extensions) != 1 or not isinstance(extensions[0], Guard) or schema.directives
            or schema.execution_context_class is not StrawberryGraphQLCoreExecutionContext
            or schema._schema.get_directive("defer") or schema._schema.get_directive("stream")):
        return None
    return functools.partial(extensions[0].execute, schema)


class RequestGuard(SchemaExtension):
    """The guard as strawberry's extension (one instance per request), when the schema has others (tracing):
    validated once per query text, costed and rate-limited on every request, errors finished as it ends."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.checked: Checked | None = None

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        self.guard.finish(context.result, context.context)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        cache = self.guard.cache
        # For strawberry's own parse of a text that failed here, so its refusal reads the same.
        context.parse_options["max_tokens"] = cache.max_tokens
        if context.query is not None and context.graphql_document is None:
            self.checked = cache.get(context.schema._schema, context.query)
            if self.checked is not None:
                context.graphql_document = self.checked.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = self.guard.cache.rules
        document = context.graphql_document
        if self.checked is not None and document is self.checked.document:
            context.pre_execution_errors = list(self.checked.errors)
        elif document is not None:  # not from the cache: validated here, by the same rules
            context.pre_execution_errors = validate_document(context.schema._schema, document,
                                                             self.guard.cache.rules)
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        cached = self.checked if self.checked is not None and self.checked.document is document else None
        name_operation(cached.label(context.operation_name) if cached is not None else operation_label(context))
        if document is not None and context.result is None:
            checked = cached if cached is not None else Checked(document, [], None)
            errors = await self.guard.refusals(checked, context.operation_name, context.variables,
                                               context.context)
            if errors:
                context.result = GraphQLExecutionResult(data=None, errors=errors)
        yield


def validation_rules(*, production: bool, limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The spec's rules and ours, in the order strawberry's extensions used to add them."""
    rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, depth_rule(limits.max_depth),
                                                  alias_rule(limits.max_aliases),
                                                  mutation_rule(limits.max_mutation_fields))
    return (*rules, NoSchemaIntrospectionCustomRule) if production else rules


def schema_extensions(*, production: bool, limits: Limits) -> list[Guard]:
    """The extension factories for a schema (each request gets its own instances); introspection is refused in
    production, and so are suggestions that would spell out the schema."""
    cache = DocumentCache(validation_rules(production=production, limits=limits), limits.max_tokens)
    return [Guard(cache, max_cost=limits.max_cost, production=production)]
