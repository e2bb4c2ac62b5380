"""Documents are parsed and validated once per query text; every limit still applies to every request."""

from __future__ import annotations

from enum import Enum
from typing import Any

import httpx
import pytest
import strawberry
from graphql import parse, specified_rules
from graphql_api import Api, codes_of, errors_of, make_api
from strawberry.scalars import JSON

from onestop.engine.container import Engine
from onestop.graphql.app import create_app
from onestop.graphql.fastpath import use_direct_resolvers
from onestop.graphql.guard import DocumentCache
from onestop.graphql.schema import build_schema
from onestop.graphql.security import Limits

STEPS = " ".join(f"s{i}: steps {{ id type title }}" for i in range(20))
PAGED = "query Paged($n: Int) { services(first: $n) { edges { node { " + STEPS + " } } } }"


async def test_a_cached_document_is_costed_with_each_requests_variables(api: Api) -> None:
    assert "errors" not in await api.post(PAGED, {"n": 1})
    refused = await api.post(PAGED, {"n": 100})  # the same text, now from the cache
    assert codes_of(refused) == ["QUERY_TOO_COMPLEX"]
    assert refused["data"] is None
    assert errors_of(refused)[0]["extensions"]["cost"] > errors_of(refused)[0]["extensions"]["maxCost"]
    assert "errors" not in await api.post(PAGED, {"n": 1})


async def test_a_document_costed_from_literals_is_refused_every_time(api: Api) -> None:
    query = "{ services(first: 100) { edges { node { " + STEPS + " } } } }"
    for _ in range(2):
        assert codes_of(await api.post(query)) == ["QUERY_TOO_COMPLEX"]


async def test_a_document_refused_by_validation_is_refused_again_from_the_cache(engine: Engine) -> None:
    api = make_api(engine.settings, engine, limits=Limits(max_depth=3))
    try:
        deep = "{ services { edges { node { department { code } } } } }"
        first, second = await api.post(deep), await api.post(deep)
        assert codes_of(first) == codes_of(second) == ["QUERY_TOO_COMPLEX"]
        assert errors_of(first)[0]["message"] == errors_of(second)[0]["message"]
        assert "errors" not in await api.post("{ services { edges { node { slug } } } }")
    finally:
        await api.client.aclose()


async def test_too_many_tokens_are_refused_on_every_request(api: Api) -> None:
    fields = " ".join("__typename" for _ in range(Limits().max_tokens + 10))
    for _ in range(2):
        result = await api.post("{ " + fields + " }")
        assert codes_of(result) == ["QUERY_TOO_COMPLEX"]
        assert "tokens" in errors_of(result)[0]["message"]


async def test_introspection_stays_refused_in_production_when_repeated(production_api: Api,
                                                                       api: Api) -> None:
    query = "{ __schema { queryType { name } } }"
    assert (await api.data(query))["__schema"]["queryType"]["name"] == "Query"  # development: answered
    for _ in range(2):
        assert "introspection" in errors_of(await production_api.post(query))[0]["message"].lower()


async def test_production_answers_carry_no_suggestions_when_repeated(production_api: Api) -> None:
    for _ in range(2):
        message = errors_of(await production_api.post("{ servics { slug } }"))[0]["message"]
        assert "Did you mean" not in message


MANY = {"query": """mutation Three {
  a: revokeConsent(input: {consentId: "x"}) { userErrors { code } }
  b: revokeConsent(input: {consentId: "y"}) { userErrors { code } }
  c: revokeConsent(input: {consentId: "z"}) { userErrors { code } }
}
mutation One { revokeConsent(input: {consentId: "w"}) { userErrors { code } } }"""}


async def test_extra_mutations_are_counted_for_the_operation_each_request_selects(seed_engine: Engine) -> None:
    settings = seed_engine.settings.model_copy(update={"rate_limit_per_minute": 4})
    app = create_app(settings, seed_engine, clock=lambda: 1_000.0)  # no refill during the test
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://onestop.test") as http:
        # One field: one token each time, from the same cached document.
        for _ in range(2):
            answer = (await http.post("/graphql", json=MANY | {"operationName": "One"})).json()
            assert "RATE_LIMITED" not in str(answer)
        # Three fields need three tokens; two are left.
        answer = (await http.post("/graphql", json=MANY | {"operationName": "Three"})).json()
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["RATE_LIMITED"]
        assert answer["data"] is None


def test_the_document_cache_is_bounded_and_keeps_the_most_recent() -> None:
    schema = build_schema(production=False)._schema
    cache = DocumentCache(tuple(specified_rules), max_tokens=100, maxsize=2)
    first = cache.get(schema, "{ __typename }")
    assert first is not None
    assert cache.get(schema, "{ __typename }") is first
    cache.get(schema, "{ a: __typename }")
    cache.get(schema, "{ __typename }")  # now the most recent
    cache.get(schema, "{ b: __typename }")  # evicts "{ a: __typename }"
    assert cache.get(schema, "{ __typename }") is first
    assert cache.get(schema, "{ ") is None  # unparsable: left to strawberry's own parse, never cached
    assert len(cache._entries) == 2


def test_a_cached_document_keeps_its_validation_errors() -> None:
    schema = build_schema(production=False)._schema
    cache = DocumentCache(tuple(specified_rules), max_tokens=100)
    checked = cache.get(schema, "{ zzz }")
    assert checked is not None
    assert [e.message for e in checked.errors] == ["Cannot query field 'zzz' on type 'Query'."]
    assert cache.get(schema, "{ zzz }") is checked
    assert checked.document == parse("{ zzz }")


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.input
class Inner:
    tags: list[str]
    colour: Colour | None = None


@strawberry.input
class Outer:
    id: strawberry.ID
    inner: Inner | None
    inners: list[Inner] = strawberry.field(default_factory=list)
    extra: JSON | None = strawberry.UNSET
    count: int = 1


@strawberry.type
class Thing:
    name: str

    @strawberry.field
    def plain(self) -> str:
        return self.name.upper()

    @strawberry.field
    def with_info(self, info: strawberry.Info) -> str:
        return f"{self.name}:{info.field_name}:{info.context['who']}"

    @strawberry.field
    async def later(self) -> int:
        return len(self.name)

    @strawberry.field
    def argued(self, times: int = 2) -> str:
        return self.name * times

    @strawberry.field
    async def shaped(self, info: strawberry.Info, outer: Outer, colours: list[Colour] | None = None,
                     maybe: str | None = None) -> str:
        return f"{self.name}:{info.field_name}:{outer!r}:{colours!r}:{maybe!r}"


@strawberry.type
class Root:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [Thing(name="a"), Thing(name="bc")]


SHAPED = "query($o: Outer!, $c: [Colour!]) { things { shaped(outer: $o, colours: $c) } }"


@pytest.mark.parametrize(("query", "variables"), [
    ("{ things { name plain withInfo later argued } }", None),
    ("{ things { argued(times: 3) x: plain y: withInfo } }", None),
    ('{ things { shaped(outer: {id: "1", inner: null}) } }', None),
    ('{ things { shaped(outer: {id: "1"}) } }', None),  # an input field without a default, left out: None
    ('{ things { shaped(outer: {id: 2, inner: {tags: ["a", "b"], colour: RED}, count: 3, extra: {a: [1]}}, '
     'colours: [BLUE, RED], maybe: null) } }', None),
    (SHAPED, {"o": {"id": "x", "inner": {"tags": []}, "inners": [{"tags": ["t"], "colour": "BLUE"}, {"tags": []}],
               "extra": None}, "c": None}),
    (SHAPED, {"o": {"id": "x", "inner": None, "extra": {"deep": [{"x": 1.5}]}}, "c": ["RED"]}),
    (SHAPED, {"o": {"id": "x", "inner": {"tags": "one"}}}),  # a single value for a list: coerced by GraphQL
    (SHAPED, {"o": {"id": "x", "inner": {"tags": [1]}}}),  # refused by GraphQL's coercion, on both
])
async def test_direct_resolvers_answer_as_strawberry_does(query: str, variables: dict[str, Any] | None) -> None:
    direct, chained = strawberry.Schema(query=Root), strawberry.Schema(query=Root)
    assert use_direct_resolvers(direct) == 7  # things, name, plain, withInfo, later, argued, shaped
    context: dict[str, Any] = {"who": "me"}
    ours = await direct.execute(query, variables, context_value=context)
    theirs = await chained.execute(query, variables, context_value=context)
    assert ours == theirs
    if ours.errors is None and "withInfo" in query:
        assert ours.data is not None
        assert ours.data["things"][0]["y" if "y:" in query else "withInfo"] == "a:withInfo:me"


@strawberry.input
class Nested:
    name: str | None = None
    children: list[Nested] | None = None


@strawberry.type
class NestedRoot:
    @strawberry.field
    def tree(self, where: Nested | None = None) -> str:
        return repr(where)


async def test_an_input_that_contains_itself_keeps_strawberry_s_conversion() -> None:
    # Building its converter would never end: the field is left to strawberry's chain and answers as before.
    direct, chained = strawberry.Schema(query=NestedRoot), strawberry.Schema(query=NestedRoot)
    assert use_direct_resolvers(direct) == 0
    query = '{ tree(where: {name: "a", children: [{name: "b", children: []}]}) }'
    ours, theirs = await direct.execute(query), await chained.execute(query)
    assert ours == theirs
    assert ours.errors is None
    assert ours.data is not None
    assert "name='b'" in ours.data["tree"]


async def test_a_cached_document_names_each_selected_operation_for_the_logs(api: Api,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from onestop.graphql import guard

    labels: list[str] = []
    monkeypatch.setattr(guard, "name_operation", labels.append)
    text = "query Q { __typename } query S { services(first: 1) { totalCount } __typename }"
    for name in ("Q", "S", "Q", "S"):  # the same text: from the cache after the first
        answer = await api.client.post("/graphql", json={"query": text, "operationName": name})
        assert "errors" not in answer.json()
    assert labels == ["query __typename", "query __typename,services"] * 2
