"""Relay plumbing: the ``Node`` interface, opaque global ids and cursor connections (page size 1-100).

Two kinds of cursor, both opaque to clients: an offset, for lists held in memory (the catalogue), and a
position in a keyset order, for lists paged in the database (applications), where an offset would make every
page read all the rows before it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from onestop.graphql.errors import BadUserInput
from onestop.graphql.fields import field

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def to_global_id(type_name: str, key: str) -> str:
    """Opaque global id: base64("Type:key"). Clients must not parse it."""
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode("ascii")


def from_global_id(global_id: str) -> tuple[str, str] | None:
    """(type, key) or None when the id is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, key = raw.partition(":")
    if not sep or not type_name or not key:
        return None
    return type_name, key


@strawberry.interface(description="An object with a global id that node(id:) can refetch.")
class Node:
    @field(description="Opaque, stable global id.")
    def id(self) -> strawberry.ID:
        raise NotImplementedError  # every implementing type resolves its own id


NodeResolver = Callable[[Info[Any, Any], str], Awaitable[Node | None]]
_node_resolvers: dict[str, NodeResolver] = {}


def register_node(type_name: str, resolver: NodeResolver) -> None:
    """Let ``node(id:)`` refetch ``type_name``. The resolver must return None for anything the caller may
    not see, so a foreign id looks exactly like an unknown one."""
    _node_resolvers[type_name] = resolver


async def resolve_node(info: Info[Any, Any], global_id: str) -> Node | None:
    parsed = from_global_id(global_id)
    if parsed is None:
        return None
    resolver = _node_resolvers.get(parsed[0])
    return None if resolver is None else await resolver(info, parsed[1])


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    total_count: int = strawberry.field(description="Items matching, across all pages.")
    edges: list[Edge[T]]
    page_info: PageInfo


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{offset}".encode()).decode("ascii")


def _offset_of(cursor: str) -> int | None:
    parsed = from_global_id(cursor)
    if parsed is None or parsed[0] != "cursor" or not parsed[1].isdigit():
        return None
    return int(parsed[1])


def page_of(first: int | None, after: str | None) -> Page:
    """Validate ``first``/``after`` or raise BAD_USER_INPUT naming the argument."""
    limit = _page_size(first)
    offset = 0
    if after is not None:
        position = _offset_of(after)
        if position is None:
            raise _not_a_cursor()
        offset = position + 1
    return Page(offset=offset, limit=limit)


def _page_size(first: int | None) -> int:
    limit = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadUserInput(
            f"'first' must be between 1 and {MAX_PAGE_SIZE} (got {limit}); page with 'after' for more.",
            argument="first",
        )
    return limit


def _not_a_cursor() -> BadUserInput:
    return BadUserInput(
        "'after' is not a cursor from this connection; pass an edge's cursor or pageInfo.endCursor.",
        argument="after",
    )


@dataclass(frozen=True)
class KeysetPage(Generic[K]):
    """A page of a list paged in the database: ``limit`` entries after the position ``after`` (None: the start)."""

    limit: int
    after: K | None


def keyset_page_of(first: int | None, after: str | None, parse: Callable[[str], K | None]) -> KeysetPage[K]:
    """Validate ``first``/``after`` or raise BAD_USER_INPUT naming the argument; ``parse`` reads the position
    from the token that ``keyset_cursor`` wrapped (None when it is not one)."""
    limit = _page_size(first)
    if after is None:
        return KeysetPage(limit, None)
    parsed = from_global_id(after)
    position = parse(parsed[1]) if parsed is not None and parsed[0] == "position" else None
    if position is None:
        raise _not_a_cursor()
    return KeysetPage(limit, position)


def keyset_cursor(token: str) -> str:
    """The opaque cursor for an entry whose position in the keyset order ``token`` names."""
    return to_global_id("position", token)


def connection_from_keyset(nodes: Sequence[tuple[str, T]], page: KeysetPage[Any], *, has_next_page: bool,
                           total_count: int) -> Connection[T]:
    """A connection from a page the database cut: ``nodes`` pairs each node's position token with the node."""
    edges = [Edge(cursor=keyset_cursor(token), node=node) for token, node in nodes]
    return Connection(
        total_count=total_count,
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next_page,
            has_previous_page=page.after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def connection(items: Sequence[T], page: Page, total_count: int | None = None) -> Connection[T]:
    """A connection over the whole sequence (``items``), sliced to ``page``."""
    total = len(items) if total_count is None else total_count
    window = items[page.offset: page.offset + page.limit]
    return connection_from_slice(window, page, total)


def connection_from_slice(window: Sequence[T], page: Page, total_count: int) -> Connection[T]:
    """A connection from an already-fetched window starting at ``page.offset``."""
    edges = [Edge(cursor=_cursor(page.offset + i), node=node) for i, node in enumerate(window)]
    return Connection(
        total_count=total_count,
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.offset + len(edges) < total_count,
            has_previous_page=page.offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
