"""schema.graphql is the contract with frontends: generated, committed, and checked here."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from onestop.cli import main
from onestop.graphql.schema import export_sdl


def test_committed_schema_graphql_matches_the_code(repo_root: Path) -> None:
    committed = (repo_root / "schema.graphql").read_text(encoding="utf-8")
    assert committed == export_sdl(), (
        "schema.graphql is out of date: run `onestop export-schema -o schema.graphql` and commit it"
    )


def test_export_schema_command_prints_the_sdl() -> None:
    result = CliRunner().invoke(main, ["export-schema"])
    assert result.exit_code == 0, result.output
    assert result.output == export_sdl()


def test_export_schema_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = CliRunner().invoke(main, ["export-schema", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == export_sdl()


def test_the_contract_names_are_in_the_schema() -> None:
    sdl = export_sdl()
    for needle in (
        "services(first: Int", "after: String", "search: String", "theme: ID", "ageGroup: ID", "department: ID",
        "): ServiceConnection!", "service(slug: String!): Service", "node(id: ID!): Node",
        "type Service implements Node", "enum StepType",
    ):
        assert needle in sdl, needle
