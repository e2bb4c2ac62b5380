"""The guard's in-line executor (``executor.PlainExecutor``) answers as strawberry does, with its shortcuts:
sub-selections collected once per document (only when no directive can make them depend on the request), and scalar
fields whose resolver never reads ``info`` resolved without one."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, cast

import pytest
import strawberry
from strawberry.types.graphql import OperationType

from onestop.graphql import executor
from onestop.graphql.executor import PlainExecutor
from onestop.graphql.fastpath import LEAF_WITHOUT_INFO, use_direct_resolvers
from onestop.graphql.guard import direct_execute, schema_extensions
from onestop.graphql.security import Limits

QUERIES = {OperationType.QUERY}


@strawberry.enum
class Level(Enum):
    LOW = 1
    HIGH = 2.5
    NAMED = "named"


@strawberry.type
class Item:
    name: str
    nothing: str = strawberry.field(default=None)  # type: ignore[assignment]  # a non-null field left null

    @strawberry.field
    def upper(self) -> str:
        return self.name.upper()

    @strawberry.field
    def broken(self) -> int:
        raise ValueError(f"no number for {self.name}")

    @strawberry.field
    def maybe(self) -> int | None:
        return None

    @strawberry.field
    async def later(self) -> int:
        return len(self.name)

    @strawberry.field
    def soon(self) -> int:  # a synchronous resolver answering with an awaitable, which graphql-core awaits
        return cast(int, self.later())


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Person(Named):
    age: int


@strawberry.type
class Place(Named):
    district: str


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(name="a"), Item(name="bc")]

    @strawberry.field
    def named(self) -> list[Named]:
        return [Person(name="Ka Fai", age=38), Place(name="Laguna City", district="kwun-tong")]

    @strawberry.field
    def found(self) -> list[Person | Place]:
        return [Place(name="Mong Kok", district="yau-tsim-mong"), Person(name="Mei", age=7)]

    @strawberry.field
    def item(self, name: str) -> Item:
        return Item(name=name)

    @strawberry.field
    def levels(self) -> list[Level]:
        return [Level.HIGH, Level.LOW, Level.NAMED]

    @strawberry.field
    def level(self) -> Level | None:  # not one of the enum's members: the same error as strawberry's
        return "HIGH"  # type: ignore[return-value]

    @strawberry.field
    def gaps(self) -> list[Item | None]:
        return [Item(name="a"), None, Item(name="bc")]

    @strawberry.field
    def faulty(self) -> list[Item | None]:  # an item that is an error: that item nulled, with its error
        return [Item(name="a"), ValueError("no such item"), Item(name="bc")]  # type: ignore[list-item]

    @strawberry.field
    def awaited(self) -> list[Item]:  # items that come later, between items at hand
        return [Item(name="a"), _later_item("bc"), Item(name="def")]  # type: ignore[list-item]

    @strawberry.field
    def abandoned(self) -> list[Item] | None:  # a non-null item fails: the list is null, the items after it awaited
        return [Item(name="a"), _later_item("bc"), Item(name="def"), _later_item("ghij")]  # type: ignore[list-item]


SETTLED: list[str] = []


async def _later_item(name: str) -> Item:
    SETTLED.append(name)
    return Item(name=name)


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    ours = strawberry.Schema(query=Query, extensions=schema_extensions(production=False, limits=Limits()))
    use_direct_resolvers(ours)
    assert executor.use_enum_names(ours._schema) == 1  # Level's values by a table
    # Strawberry's own executor and resolvers, with the same guard (as its extension): the same errors finished.
    return ours, strawberry.Schema(query=Query, extensions=schema_extensions(production=False, limits=Limits()))


async def _both(query: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    ours, theirs = _schemas()
    execute = direct_execute(ours)
    assert execute is not None
    mine = await execute(query, variables=variables, context=None, operation_name=None, allowed=QUERIES,
                         extensions=None)
    return mine, await theirs.execute(query, variables)


def _answer(result: Any) -> tuple[Any, list[tuple[str, list[Any] | None]]]:
    return result.data, [(e.message, e.path) for e in result.errors or ()]


@pytest.mark.parametrize("query", [
    "{ items { name upper maybe later } }",
    "{ items { name nothing } }",  # null for a non-null scalar: the same error, the item nulled
    "{ items { broken } }",  # a resolver that raises
    "{ items { ... on Item { a: upper } b: name } }",
    "fragment F on Item { upper } { items { ...F name } }",
    "{ items { soon name } }",
    # Lists of objects, each item straight from the list's one sub-selection unless it is null, an error or awaited.
    "{ levels level }",
    "{ gaps { name upper } }",
    "{ faulty { name } }",
    "{ awaited { name later } }",
    "{ abandoned { broken } }",
    "{ abandoned { name nothing } }",
    # With a directive: each field through graphql-core's execute_field (the document is not shared).
    "{ items { name @include(if: true) nothing broken soon upper @skip(if: true) } }",
])
async def test_the_plain_executor_answers_as_strawberry_does(query: str) -> None:
    mine, theirs = await _both(query)
    assert _answer(mine) == _answer(theirs)


async def test_the_items_after_a_failed_one_are_still_awaited_as_strawberry_awaits_them() -> None:
    ours, _ = _schemas()
    execute = direct_execute(ours)
    assert execute is not None
    SETTLED.clear()
    result = await execute("{ abandoned { broken } }", variables=None, context=None, operation_name=None,
                           allowed=QUERIES, extensions=None)
    assert result.data == {"abandoned": None}
    for _ in range(20):  # settled in the background, as graphql-core settles them
        if sorted(SETTLED) == ["bc", "ghij"]:
            break
        await asyncio.sleep(0.01)
    assert sorted(SETTLED) == ["bc", "ghij"]


@pytest.mark.parametrize("query", [
    "{ named { __typename name ... on Person { age } ... on Place { district } } }",
    "{ found { __typename ... on Named { name } ... on Place { district } } }",
    "{ one: items { name } two: items { upper n: name } }",  # one field, two aliases, two sub-selections
    "{ items { name } items { upper } }",  # one field twice: merged
    "query($n: String!) { item(name: $n) { name upper later } }",
])
async def test_cached_plans_answer_as_strawberry_does_request_after_request(query: str) -> None:
    ours, theirs = _schemas()
    execute = direct_execute(ours)
    assert execute is not None
    for n in ("x", "yz", "x"):  # the same document again, with other variables: its cached plans are reused
        variables = {"n": n} if "$n" in query else None
        mine = await execute(query, variables=variables, context=None, operation_name=None, allowed=QUERIES,
                             extensions=None)
        assert _answer(mine) == _answer(await theirs.execute(query, variables))
        assert mine.data is not None


def test_only_leaf_fields_without_info_or_arguments_are_marked() -> None:
    ours, _ = _schemas()
    fields = ours._schema.type_map["Item"].fields  # type: ignore[union-attr]
    marked = {name for name, f in fields.items() if getattr(f.resolve, LEAF_WITHOUT_INFO, False)}
    # `later` is a coroutine function; `soon` is marked, and its awaitable is awaited all the same (tested above).
    assert marked == {"name", "nothing", "upper", "broken", "maybe", "soon"}


async def test_a_document_with_directives_is_collected_for_each_requests_variables() -> None:
    ours, _ = _schemas()
    execute = direct_execute(ours)
    assert execute is not None
    query = "query($on: Boolean!) { items { name upper @include(if: $on) } }"
    answers = [await execute(query, variables={"on": on}, context=None, operation_name=None, allowed=QUERIES,
                             extensions=None) for on in (True, False, True)]
    assert [a.data for a in answers] == [
        {"items": [{"name": "a", "upper": "A"}, {"name": "bc", "upper": "BC"}]},
        {"items": [{"name": "a"}, {"name": "bc"}]},
        {"items": [{"name": "a", "upper": "A"}, {"name": "bc", "upper": "BC"}]},
    ]
    checked = ours.extensions[0].cache.get(ours._schema, query)  # type: ignore[union-attr]
    assert checked is not None
    assert checked.subfields is None


async def test_a_document_without_directives_is_collected_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, _ = _schemas()
    execute = direct_execute(ours)
    assert execute is not None
    collected: list[object] = []
    original = executor.Executor.collect_subfields

    def counting(self: PlainExecutor, *args: Any) -> Any:
        collected.append(args[0])
        return original(self, *args)

    monkeypatch.setattr(executor.Executor, "collect_subfields", counting)
    query = "{ items { name upper } }"
    for _ in range(3):
        answer = await execute(query, variables=None, context=None, operation_name=None, allowed=QUERIES,
                               extensions=None)
        assert answer.data == {"items": [{"name": "a", "upper": "A"}, {"name": "bc", "upper": "BC"}]}
    assert len(collected) == 1  # the items' selection, on the first request only
