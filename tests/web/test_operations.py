"""Every operation document of the web app is valid against the committed schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from onestop.web.client import document, operation_names

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", operation_names())
def test_operation_document_validates_against_the_schema(schema: GraphQLSchema, name: str) -> None:
    assert validate(schema, parse(document(name))) == []


def test_a_broken_document_is_reported(schema: GraphQLSchema) -> None:
    assert validate(schema, parse("query { services { nope } }")) != []


def test_every_operation_is_named_after_its_file() -> None:
    for name in operation_names():
        assert f"query {name}" in document(name) or f"mutation {name}" in document(name)
