"""The rules of the rooms (ARCHITECTURE.md), checked on every import statement in onestop/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "onestop"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def _violations(subpackage: str, allowed_onestop: tuple[str, ...], forbidden: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in _modules(subpackage):
        for name in _imports(path):
            top_onestop = name.startswith("onestop.") and not name.startswith(allowed_onestop)
            if top_onestop or name.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


def test_catalogue_imports_no_other_onestop_package() -> None:
    assert _violations("catalogue", ("onestop.catalogue",)) == []


def test_workflows_import_only_the_catalogue_and_do_no_io() -> None:
    io_modules = ("sqlalchemy", "httpx", "aiosqlite", "asyncpg", "socket", "requests", "starlette", "strawberry")
    assert _violations("workflows", ("onestop.catalogue", "onestop.workflows"), io_modules) == []


def test_graphql_reaches_temporal_and_sql_only_through_the_engine() -> None:
    assert _violations("graphql", ("onestop.",), ("temporalio", "sqlalchemy")) == []


@pytest.mark.parametrize("subpackage", ["catalogue", "workflows", "engine"])
def test_nothing_but_the_app_runner_imports_graphql(subpackage: str) -> None:
    importers = [
        str(path.relative_to(PACKAGE.parent))
        for path in _modules(subpackage)
        if any(name.startswith("onestop.graphql") for name in _imports(path))
    ]
    # embedded.py is the process runner behind `onestop serve`/`api`: it builds the app, like the CLI.
    assert [p for p in importers if p != "onestop/engine/embedded.py"] == []
