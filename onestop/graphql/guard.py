"""Every request's document checks as one extension, over a cache of parsed and validated documents.

Frontends send the same few documents, so a document is parsed (under the token limit) and validated (the spec's
rules plus depth, aliases, mutation fields and, in production, introspection) once per query text; what depends
on the request alone runs every time: the cost (page sizes may come from variables) and the extra rate-limit
tokens of a request that runs several mutations. One extension instead of one per limit: strawberry wraps every
extension's hooks in context managers on every request, and a validation cache keyed by the document hashed the
whole syntax tree on every lookup.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    specified_rules,
    visit,
)
from graphql.language import Visitor
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from onestop.graphql.errors import stamp_codes
from onestop.graphql.mutationlimits import fragments_of, mutation_fields, mutation_rule, spend_extra_mutations
from onestop.graphql.observability import count_errors, name_operation, operation_label
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

    def label(self, context: ExecutionContext) -> str:
        """The selected operation's label for the logs (``observability.operation_label``), once per name."""
        found = self.labels.get(context.operation_name)
        if found is None:
            found = operation_label(context)
            if len(self.labels) < 16:  # operation names are the client's: keep only a few
                self.labels[context.operation_name] = found
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
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return None
        errors = validate_document(schema, document, self.rules)
        entry = Checked(document, errors, _static_costs(document) if not errors else None)
        self._entries[query] = entry
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return entry


class RequestGuard(SchemaExtension):
    """The token, depth, alias, mutation-field and introspection limits (validated once per query text), and the
    cost and per-mutation rate limit (checked on every request). As the operation ends: suggestions hidden
    (production), error codes stamped, then errors counted (once three more extensions: strawberry's per-request
    cost grows with every extension's hooks)."""

    def __init__(self, *, cache: DocumentCache, max_cost: int, production: bool) -> None:
        self.cache = cache
        self.max_cost = max_cost
        self.production = production
        self.checked: Checked | None = None

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if self.production:
            hide_suggestions(context)
        stamp_codes(context)
        count_errors(context)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # For strawberry's own parse of a text that failed here, so its refusal reads the same.
        context.parse_options["max_tokens"] = self.cache.max_tokens
        if context.query is not None and context.graphql_document is None:
            self.checked = self.cache.get(context.schema._schema, context.query)
            if self.checked is not None:
                context.graphql_document = self.checked.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = self.cache.rules
        document = context.graphql_document
        if self.checked is not None and document is self.checked.document:
            context.pre_execution_errors = list(self.checked.errors)
        elif document is not None:  # not from the cache: validated here, by the same rules
            context.pre_execution_errors = validate_document(context.schema._schema, document, self.cache.rules)
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        cached = self.checked if self.checked is not None and self.checked.document is document else None
        name_operation(context, cached.label(context) if cached is not None else None)
        if document is not None and context.result is None:
            checked = cached if cached is not None else Checked(document, [], None)
            costs = checked.costs if checked.costs is not None else query_cost(document, context.variables)
            errors = too_expensive(costs, self.max_cost)
            extra = 0 if errors else checked.extra_mutations(context.operation_name)
            if extra > 0:
                refused = await spend_extra_mutations(context.context, extra)
                errors = [refused] if refused is not None else []
            if errors:
                context.result = ExecutionResult(data=None, errors=errors)
        yield


def validation_rules(*, production: bool, limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The spec's rules and ours, in the order strawberry's extensions used to add them."""
    rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, depth_rule(limits.max_depth),
                                                  alias_rule(limits.max_aliases),
                                                  mutation_rule(limits.max_mutation_fields))
    return (*rules, NoSchemaIntrospectionCustomRule) if production else rules


def schema_extensions(*, production: bool, limits: Limits) -> list[type[SchemaExtension]
                                                                 | Callable[[], SchemaExtension]]:
    """The extension factories for a schema (each request gets its own instances); introspection is refused in
    production, and so are suggestions that would spell out the schema."""
    cache = DocumentCache(validation_rules(production=production, limits=limits), limits.max_tokens)
    return [functools.partial(RequestGuard, cache=cache, max_cost=limits.max_cost, production=production)]
