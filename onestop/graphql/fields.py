"""A typed ``@field(description=...)`` decorator.

``strawberry.field(description=...)`` used as a decorator is typed as returning ``Any``, which mypy strict
reports as an untyped decorator; this wrapper keeps the resolver's own signature for the type checker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(description: str | None = None, *, name: str | None = None,
          deprecation_reason: str | None = None) -> Callable[[F], F]:
    """Declare a resolver as a GraphQL field with a description."""

    def decorate(resolver: F) -> F:
        return cast(F, strawberry.field(resolver, description=description, name=name,
                                        deprecation_reason=deprecation_reason))

    return decorate
