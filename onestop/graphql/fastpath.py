"""Direct resolvers: the bulk of every answer (a step's fields, their labels and values, the outline, plain
attributes) and the mutations' root fields.

Strawberry resolves a field with a resolver method through a generic chain on every call: argument conversion
(which evaluates each argument's and input field's type annotation again), field extensions folded with
``reduce``/``partial``, closures for exception handlers. A field without extensions, exception handlers or
``root``/``parent`` parameters needs none of it: it is called with its source (``self``), its arguments converted
as strawberry converts them (by converters built once from the types), and, when it asks, the same ``Info``
strawberry would build. A field with an argument type the converters do not cover (``Maybe``, ``GlobalID``, an
input with its own ``from_input``) keeps strawberry's chain, and so does everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo, get_nullable_type, is_leaf_type
from strawberry.relay.types import GlobalID
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import _is_leaf_type, _is_optional_leaf_type
from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryOptional, has_object_definition
from strawberry.types.enum import has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]
Registry = Mapping[object, Any]

LEAF_WITHOUT_INFO = "_onestop_leaf_without_info"
"""Marks a direct, synchronous resolver of a scalar or enum field without arguments that never reads its ``info``:
the executor (``guard.PlainExecutor``) calls it without building one."""


def use_direct_resolvers(schema: strawberry.Schema) -> int:
    """Replace the eligible fields' resolvers in ``schema``; returns how many were replaced."""
    converter = schema.schema_converter
    info_class = schema.config.info_class
    config, registry = schema.config, converter.scalar_registry
    replaced = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(field, StrawberryField) or converter._get_field_exception_handlers(field):
                continue
            direct = _direct(field, info_class, config, registry)
            if direct is not None:
                if (getattr(direct, "_without_info", False) and not graphql_field.args and not field.is_async
                        and is_leaf_type(get_nullable_type(graphql_field.type))):
                    setattr(direct, LEAF_WITHOUT_INFO, True)
                graphql_field.resolve = direct
                replaced += 1
    return replaced


def _direct(field: StrawberryField, info_class: type[Any], config: StrawberryConfig,
            registry: Registry) -> Callable[..., Any] | None:
    resolver = field.base_resolver
    if resolver is None and not field.extensions and not field.is_subscription:
        return _attribute(field.python_name, config.default_resolver)
    if (resolver is None or field.extensions or field.is_subscription
            or resolver.parent_parameter is not None or resolver.root_parameter is not None):
        return None
    wrapped = resolver.wrapped_func
    if isinstance(wrapped, staticmethod | classmethod):  # unbound descriptors: strawberry's chain handles them
        return None
    function: Callable[..., Any] = wrapped
    own = resolver.self_parameter is not None
    info_parameter = resolver.info_parameter
    if field.arguments:
        return _with_arguments(field, function, own, info_parameter.name if info_parameter else None, info_class,
                               config, registry)
    if info_parameter is None:
        def of_source(source: Any, _info: GraphQLResolveInfo[Any] | None, **_: Any) -> Any:
            return function(source)

        def alone(_source: Any, _info: GraphQLResolveInfo[Any] | None, **_: Any) -> Any:
            return function()

        without_info: Callable[..., Any] = of_source if own else alone
        without_info._without_info = True  # type: ignore[attr-defined]
        return without_info
    name = info_parameter.name

    def with_info(source: Any, info: GraphQLResolveInfo[Any], **_: Any) -> Any:
        given = {name: info_class(_raw_info=info, _field=field)}
        return function(source, **given) if own else function(**given)

    return with_info


def _attribute(name: str, default: Callable[[Any, str], Any]) -> Callable[..., Any]:
    # Strawberry's resolver for a field without one calls ``field.get_result``, which calls the default resolver.
    def attribute(source: Any, _info: GraphQLResolveInfo[Any], **_: Any) -> Any:
        return default(source, name)

    attribute._is_default = True  # type: ignore[attr-defined]  # as strawberry marks it (tracing skips these)
    attribute._without_info = True  # type: ignore[attr-defined]
    return attribute


def _with_arguments(field: StrawberryField, function: Callable[..., Any], own: bool, info_name: str | None,
                    info_class: type[Any], config: StrawberryConfig, registry: Registry) -> Callable[..., Any] | None:
    # As strawberry's ``convert_arguments``: only the arguments GraphQL gave, by their GraphQL names.
    arguments: list[tuple[str, str, Convert]] = []
    for argument in field.arguments:
        convert = converter(argument.type, config, registry)
        if convert is None or argument.python_name is None:
            return None
        arguments.append((config.name_converter.from_argument(argument), argument.python_name, convert))

    def resolve(source: Any, info: GraphQLResolveInfo[Any], **given: Any) -> Any:
        kwargs = {python: convert(given[name]) for name, python, convert in arguments if name in given}
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=field)
        return function(source, **kwargs) if own else function(**kwargs)

    if not field.is_async:
        return resolve

    # Strawberry converts an async field's arguments once its coroutine runs: a failed conversion is then reported
    # in the same order among the other fields' errors.
    async def resolve_later(source: Any, info: GraphQLResolveInfo[Any], **given: Any) -> Any:
        return await resolve(source, info, **given)

    return resolve_later


def converter(type_: Any, config: StrawberryConfig, registry: Registry,
              within: frozenset[Any] = frozenset()) -> Convert | None:
    """A function converting a GraphQL input value of ``type_`` exactly as strawberry's ``convert_argument`` does,
    with every type decision taken here, once; None for a type it does not cover.

    ``within``: the input types being built around this one; an input that contains itself (directly or through
    another) is left to strawberry's chain rather than built without end."""
    if isinstance(type_, StrawberryMaybe):
        return None
    if isinstance(type_, StrawberryOptional):  # converted as its inner type (which lets None and UNSET through)
        return converter(type_.of_type, config, registry, within)
    convert = _present(type_, config, registry, within)
    if convert is None:
        return None

    def given(value: Any) -> Any:
        if value is None:
            return None
        if value is UNSET:
            return UNSET
        return convert(value)

    return given


def _same(value: Any) -> Any:
    return value


def _present(type_: Any, config: StrawberryConfig, registry: Registry, within: frozenset[Any]) -> Convert | None:
    if isinstance(type_, StrawberryList):
        if (_is_leaf_type(type_.of_type, registry, skip_classes=(GlobalID,))
                or _is_optional_leaf_type(type_.of_type, registry, skip_classes=(GlobalID,))):
            return list  # copied: graphql-core hands every request the same default list
        item = converter(type_.of_type, config, registry, within)
        return None if item is None else (lambda values: [item(value) for value in values])
    if _is_leaf_type(type_, registry):
        return None if type_ is GlobalID else _same
    if isinstance(type_, LazyType):
        return converter(type_.resolve_type(), config, registry, within)
    if has_enum_definition(type_):
        return converter(type_.__strawberry_definition__, config, registry, within)
    if not has_object_definition(type_) or type_ in within:
        return None
    definition = type_.__strawberry_definition__
    if definition.from_input is not None:
        return None
    # Every input field without a default starts as None; GraphQL has checked the required ones are present.
    defaults = {f.python_name: None for f in definition.fields
                if f.default_value is MISSING and f.default_factory is MISSING} if definition.is_input else {}
    fields: list[tuple[str, str, Convert]] = []
    for input_field in definition.fields:
        field_type = input_field.resolve_type(type_definition=definition)
        convert = converter(field_type, config, registry, within | {type_})
        if convert is None:
            return None
        fields.append((config.name_converter.from_field(input_field), input_field.python_name, convert))
    build: Callable[..., Any] = type_

    def instance(value: Mapping[str, Any]) -> Any:
        kwargs = dict(defaults)
        for name, python, convert in fields:
            if name in value:
                kwargs[python] = convert(value[name])
        return build(**kwargs)

    return instance
