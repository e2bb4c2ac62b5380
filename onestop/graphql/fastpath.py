"""Direct resolvers for the fields that take no arguments: the bulk of every answer (a step's fields, their
labels and values, the outline).

Strawberry resolves a field with a resolver method through a generic chain on every call: argument conversion,
field extensions folded with ``reduce``/``partial``, closures for exception handlers. A field without arguments,
extensions, exception handlers or ``root``/``parent`` parameters needs none of it: it is called with its source
(``self``) and, when it asks, the same ``Info`` strawberry would build. Everything else keeps strawberry's chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


def use_direct_resolvers(schema: strawberry.Schema) -> int:
    """Replace the eligible fields' resolvers in ``schema``; returns how many were replaced."""
    converter = schema.schema_converter
    info_class = schema.config.info_class
    replaced = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(field, StrawberryField) or converter._get_field_exception_handlers(field):
                continue
            direct = _direct(field, info_class)
            if direct is not None:
                graphql_field.resolve = direct
                replaced += 1
    return replaced


def _direct(field: StrawberryField, info_class: type[Any]) -> Callable[..., Any] | None:
    resolver = field.base_resolver
    if (resolver is None or field.extensions or field.arguments or field.is_subscription
            or resolver.parent_parameter is not None or resolver.root_parameter is not None):
        return None
    wrapped = resolver.wrapped_func
    if isinstance(wrapped, staticmethod | classmethod):  # unbound descriptors: strawberry's chain handles them
        return None
    function: Callable[..., Any] = wrapped
    own = resolver.self_parameter is not None
    info_parameter = resolver.info_parameter
    if info_parameter is None:
        if own:
            return lambda source, _info, **_: function(source)
        return lambda _source, _info, **_: function()
    name = info_parameter.name

    def with_info(source: Any, info: GraphQLResolveInfo[Any], **_: Any) -> Any:
        given = {name: info_class(_raw_info=info, _field=field)}
        return function(source, **given) if own else function(**given)

    return with_info
