"""The executor ``guard.Guard.execute`` runs documents with: graphql-core's plain executor (no incremental delivery)
handing resolvers the info strawberry builds, with two shortcuts for the answers every action returns.

- A document without directives has its sub-selections collected once, not once per request: nothing about them
  depends on the request (``@skip``/``@include`` are directives, and read variables).
- Each such selection gets a plan that resolves and completes, in one loop, the scalar and enum fields whose direct,
  synchronous resolver never reads ``info`` (``fastpath.LEAF_WITHOUT_INFO``): no path, info or field lookup unless
  one fails. Every other field goes through graphql-core's ``execute_field``.

``tests/graphql/test_plain_executor.py`` holds both to strawberry's own answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

from graphql import (
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    visit,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import CollectedFields, FieldDetails
from graphql.execution.executor import collect_iterator_awaitables
from graphql.language import Visitor
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType

from onestop.graphql.fastpath import LEAF_WITHOUT_INFO


class _RequestDependent(Visitor):
    """Finds what could make collecting a selection depend on the request: any directive (``@skip``/``@include``
    read variables)."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, _node: DirectiveNode, *_: object) -> None:
        self.found = True


def shared_subfields(document: DocumentNode) -> dict[tuple[Any, ...], Any] | None:
    """An empty cache of collected sub-selections for ``document``, or None when collecting may vary by request."""
    finder = _RequestDependent()
    visit(document, finder)
    # A fragment with variables of its own (an experimental syntax) is collected with their values.
    if finder.found or any(isinstance(d, FragmentDefinitionNode) and d.variable_definitions
                           for d in document.definitions):
        return None
    return {}


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

    def complete_iterable_value(self, item_type: GraphQLOutputType, field_details_list: list[FieldDetails],
                                info: GraphQLResolveInfo[Any], path: Path, items: Iterable[Any],
                                position_context: None) -> Any:
        """graphql-core's ``complete_iterable_value``, except that a list of objects of one type (without an
        ``is_type_of`` check) in a document without directives has its items' sub-selection collected once for the
        list, and each item goes straight to ``execute_fields``: what ``complete_value`` does for an object, without
        its type dispatch, collection key and checks once per item. Anything else (an awaitable, null or exception
        item) is completed by graphql-core's own steps."""
        inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (self.shared_subfields is None or not isinstance(inner, GraphQLObjectType) or inner.is_type_of is not None
                or not isinstance(items, list | tuple)):
            return super().complete_iterable_value(item_type, field_details_list, info, path, items,
                                                   position_context)
        grouped_field_set = self.collect_subfields(inner, field_details_list)[0]
        is_awaitable = self.is_awaitable
        execute_fields = self.execute_fields
        completed_results: list[Any] = []
        append = completed_results.append
        awaitable_indices: list[int] = []
        iterator = iter(items)
        try:
            for index, item in enumerate(iterator):
                item_path = path.add_key(index, None)
                if is_awaitable(item):
                    append(self.complete_awaitable_list_item_value(item, item_type, field_details_list, info,
                                                                   item_path, position_context))
                    awaitable_indices.append(index)
                    continue
                if item is None or item is Undefined or isinstance(item, Exception):
                    # Null or an error: completed (or refused) at once, never later.
                    self.complete_list_item_value(item, completed_results, item_type, field_details_list, info,
                                                  item_path, position_context)
                    continue
                try:
                    completed = execute_fields(inner, item, item_path, grouped_field_set, position_context)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    append(None)
                    continue
                if is_awaitable(completed):
                    append(self._settled_item(completed, item_type, field_details_list, item_path))
                    awaitable_indices.append(index)
                else:
                    append(completed)
        except Exception:
            # As graphql-core does: the items not reached are drained too, so that no awaitable is left orphaned.
            pending = [completed_results[index] for index in awaitable_indices]
            pending.extend(collect_iterator_awaitables(iterator, is_awaitable))
            if pending:
                self.settle_in_background(pending)
            raise
        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            if len(awaitable_indices) == 1:
                index = awaitable_indices[0]
                completed_results[index] = await completed_results[index]
            else:
                awaited = await gather_with_cancel(*(completed_results[index] for index in awaitable_indices))
                for index, sub_result in zip(awaitable_indices, awaited, strict=True):
                    completed_results[index] = sub_result
            return completed_results

        return get_completed_results()

    async def _settled_item(self, completed: Awaitable[Any], item_type: GraphQLOutputType,
                            field_details_list: list[FieldDetails], item_path: Path) -> Any:
        # As ``complete_list_item_value`` awaits an item whose completion answers later.
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            return None

    def get_stream_usage(self, field_details_list: list[FieldDetails], path: Path) -> Any:
        # A document without directives (``Checked.subfields``) streams nothing: no lookup per list.
        if self.shared_subfields is not None:
            return None
        return super().get_stream_usage(field_details_list, path)


def use_enum_names(schema: GraphQLSchema) -> int:
    """Serialize strawberry's enums by a table of their values: strawberry's ``coerce_output_value`` looks a member's
    name up by comparing its value with each of the enum's in turn, on every enum value of every answer. A value
    the table does not hold (or cannot: unhashable) still goes the original way, with its error. Returns how many
    enum types were given a table."""
    given = 0
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, CustomGraphQLEnumType):
            continue
        names: dict[Any, str] = {}
        try:
            for name, value in graphql_type.values.items():
                names.setdefault(value.value, name)  # the first name of a value, as strawberry's loop finds it
        except TypeError:  # an unhashable value
            continue
        graphql_type.coerce_output_value = _by_table(  # type: ignore[method-assign,assignment]
            names, cast(type[Enum], graphql_type.wrapped_cls), graphql_type.coerce_output_value)
        given += 1
    return given


def _by_table(names: dict[Any, str], wrapped: type[Enum], coerce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def coerce_output_value(output_value: Any) -> Any:
        if isinstance(output_value, wrapped):
            try:
                return names[output_value.value]
            except (KeyError, TypeError):
                pass
        return coerce(output_value)

    return coerce_output_value


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
