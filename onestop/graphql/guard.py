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
from typing import Any, cast

import strawberry
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
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
from graphql.execution import Executor
from graphql.execution.collect_fields import CollectedFields, FieldDetails
from graphql.language import Visitor
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
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
from onestop.graphql.fastpath import LEAF_WITHOUT_INFO
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
    # Sub-selections collected once for every request of this document (see ``PlainExecutor``); None when a
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


class _RequestDependent(Visitor):
    """Finds what could make collecting a selection depend on the request: any directive (``@skip``/``@include``
    read variables)."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, _node: DirectiveNode, *_: object) -> None:
        self.found = True


def _shared_subfields(document: DocumentNode) -> dict[tuple[Any, ...], Any] | None:
    """An empty cache of collected sub-selections for ``document``, or None when collecting may vary by request."""
    finder = _RequestDependent()
    visit(document, finder)
    # A fragment with variables of its own (an experimental syntax) is collected with their values.
    if finder.found or any(isinstance(d, FragmentDefinitionNode) and d.variable_definitions
                           for d in document.definitions):
        return None
    return {}


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
                        subfields=_shared_subfields(document) if not errors else None)
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


class PlainExecutor(Executor[None]):
    """graphql-core's executor without incremental delivery, handing resolvers the info strawberry's executor builds.

    Strawberry's executor is graphql-core's incremental one, which sets up the bookkeeping for ``@defer`` and
    ``@stream`` on every request; our schemas declare neither directive, so documents using them fail validation
    and the plain executor runs every other document the same way.
    """

    def __init__(self, *args: Any, operation_extensions: dict[str, Any] | None = None,
                 shared_subfields: dict[tuple[Any, ...], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operation_extensions = operation_extensions
        self.shared_subfields = shared_subfields

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: list[FieldDetails]
                          ) -> CollectedFields:
        """The sub-selections of these fields on ``return_type``, collected once per document rather than once per
        request: without directives they depend on the document and the type alone. Keyed by the fields' nodes,
        which the cached document keeps alive (so their ids are not reused while the cache lives)."""
        shared = self.shared_subfields
        if shared is None:
            return super().collect_subfields(return_type, field_details_list)
        key = (return_type, *[id(details.node) for details in field_details_list])
        found: CollectedFields | None = shared.get(key)
        if found is None:
            found = shared[key] = super().collect_subfields(return_type, field_details_list)
        return found

    build_resolve_info = StrawberryGraphQLCoreExecutionContext.build_resolve_info

    def execute_field(self, parent_type: GraphQLObjectType, source: Any, field_details_list: list[FieldDetails],
                      path: Path, position_context: None) -> Any:
        """graphql-core's ``execute_field``, except that a scalar or enum field whose resolver never reads its info
        (``fastpath.LEAF_WITHOUT_INFO``: most fields of every answer) is resolved without building one; completing
        a leaf value does not read it either."""
        node = field_details_list[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        resolve = field_def.resolve if field_def is not None else None
        if resolve is None or not getattr(resolve, LEAF_WITHOUT_INFO, False) or node.arguments:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        assert field_def is not None
        return_type = field_def.type
        try:
            result = resolve(source, None)
            if self.is_awaitable(result):
                info = self.build_resolve_info(field_def, [d.node for d in field_details_list],  # type: ignore[misc]
                                               parent_type, path)
                return self.complete_awaitable_value(return_type, field_details_list, info, path, result,
                                                     position_context)
            # ``complete_value`` for a leaf type, with its messages.
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                if isinstance(return_type, GraphQLNonNull):
                    raise TypeError(f"Cannot return null for non-nullable field {parent_type}.{node.name.value}.")
                return None
            leaf = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
            return self.complete_leaf_value(cast(GraphQLLeafType, leaf), result)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
                       grouped_field_set: dict[str, list[FieldDetails]], position_context: None) -> Any:
        """graphql-core's ``execute_fields`` over a plan made once per shared selection: a leaf field whose resolver
        never reads ``info`` is resolved and completed here, without a path or an info unless it fails; every
        other field goes through ``execute_field`` as before."""
        shared = self.shared_subfields
        if shared is None or path is None:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        key = ("plan", parent_type, id(grouped_field_set))
        plan: _Plan | None = shared.get(key)
        if plan is None:
            plan = shared[key] = _Plan(grouped_field_set, _plan(self.schema, parent_type, grouped_field_set))
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        parent_name = parent_type.name
        try:
            for response_name, field_details_list, leaf in plan.steps:
                if leaf is not None:
                    resolve, field_def, leaf_type = leaf
                    return_type = field_def.type
                    try:
                        result = resolve(source_value, None)
                        if is_awaitable(result):  # a synchronous resolver may still answer later
                            field_path = Path(path, response_name, parent_name)
                            info = self.build_resolve_info(field_def,  # type: ignore[misc]
                                                           [d.node for d in field_details_list], parent_type,
                                                           field_path)
                            results[response_name] = self.complete_awaitable_value(
                                return_type, field_details_list, info, field_path, result, position_context)
                            awaitable_fields.append(response_name)
                            continue
                        if isinstance(result, Exception):
                            raise result
                        if result is None or result is Undefined:
                            if leaf_type is not return_type:
                                raise TypeError(f"Cannot return null for non-nullable field {parent_type}."
                                                f"{field_details_list[0].node.name.value}.")
                            results[response_name] = None
                        else:
                            results[response_name] = self.complete_leaf_value(leaf_type, result)
                    except Exception as raw_error:
                        self.handle_field_error(raw_error, return_type, field_details_list,
                                                Path(path, response_name, parent_name))
                        results[response_name] = None
                    continue
                result = self.execute_field(parent_type, source_value, field_details_list,
                                            Path(path, response_name, parent_name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def get_stream_usage(self, field_details_list: list[FieldDetails], path: Path) -> Any:
        # A document without directives (``Checked.subfields``) streams nothing: no lookup per list.
        if self.shared_subfields is not None:
            return None
        return super().get_stream_usage(field_details_list, path)


_Leaf = tuple[Callable[..., Any], GraphQLField, GraphQLLeafType]


@dataclass(frozen=True)
class _Plan:
    """How to execute one shared selection on one type: each response key, its fields and, for a leaf field whose
    resolver never reads ``info``, that resolver with its type (None: through ``execute_field``)."""

    fields: dict[str, list[FieldDetails]]  # kept alive with the plan, which is keyed by its id
    steps: list[tuple[str, list[FieldDetails], _Leaf | None]]


def _plan(schema: GraphQLSchema, parent_type: GraphQLObjectType, fields: dict[str, list[FieldDetails]]
          ) -> list[tuple[str, list[FieldDetails], _Leaf | None]]:
    steps: list[tuple[str, list[FieldDetails], _Leaf | None]] = []
    for response_name, field_details_list in fields.items():
        node = field_details_list[0].node
        field_def = schema.get_field(parent_type, node.name.value)
        resolve = field_def.resolve if field_def is not None else None
        leaf: _Leaf | None = None
        if field_def is not None and resolve is not None and getattr(resolve, LEAF_WITHOUT_INFO, False) \
                and not node.arguments:
            inner = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
            leaf = (resolve, field_def, cast(GraphQLLeafType, inner))
        steps.append((response_name, field_details_list, leaf))
    return steps


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
