"""Walking loaded objects in tests: every pydantic model reachable from a value."""

from __future__ import annotations

from pydantic import BaseModel


def models_in(value: object) -> list[BaseModel]:
    """Every model reachable from ``value`` through model fields, tuples, lists and dict values (repeats kept)."""
    found: list[BaseModel] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseModel):
            found.append(item)
            stack.extend(item.__dict__.values())
        elif isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found
