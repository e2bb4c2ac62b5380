"""The rules of the rooms (ARCHITECTURE.md), checked on every import statement in onestop/, with no exemptions."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "onestop"
IO_MODULES = ("sqlalchemy", "httpx", "aiohttp", "aiosqlite", "asyncpg", "socket", "requests", "starlette", "strawberry",
              "urllib", "subprocess")


@dataclass(frozen=True)
class Import:
    module: str
    line: int
    # Inside a function body, so it runs only when that function does (e.g. behind a development check).
    deferred: bool
    # Inside ``if TYPE_CHECKING:``: never imported at run time.
    typing_only: bool


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_deferred = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            child_typing = typing_only or (
                isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"))
            if isinstance(child, ast.Import):
                found.extend(Import(alias.name, child.lineno, deferred, typing_only) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append(Import(child.module, child.lineno, deferred, typing_only))
                # ``from onestop.engine import dev`` imports a sub-module too
                found.extend(Import(f"{child.module}.{alias.name}", child.lineno, deferred, typing_only)
                             for alias in child.names if _is_module(f"{child.module}.{alias.name}"))
            visit(child, child_deferred, child_typing)

    visit(tree, False, False)
    return found


def _is_module(name: str) -> bool:
    if not name.startswith("onestop."):
        return False
    relative = PACKAGE.parent / name.replace(".", "/")
    return relative.is_dir() or relative.with_suffix(".py").exists()


def _modules(*subpackages: str) -> list[Path]:
    paths: list[Path] = []
    for sub in subpackages:
        target = PACKAGE / sub
        paths.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return paths


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent)) if path.is_relative_to(PACKAGE.parent) else str(path)


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{_name(path)}:{imp.line} imports {imp.module}"
            for path in paths for imp in _imports(path)
            if _within(imp.module, *forbidden)]


ONESTOP_PACKAGES = ("onestop.catalogue", "onestop.workflows", "onestop.engine", "onestop.graphql", "onestop.web",
                    "onestop.runtime", "onestop.cli", "onestop.config")


def test_catalogue_imports_no_other_onestop_package() -> None:
    others = tuple(p for p in ONESTOP_PACKAGES if p != "onestop.catalogue")
    assert _violations(_modules("catalogue"), others) == []


def test_workflows_import_only_the_catalogue_and_their_own_contracts_and_do_no_io() -> None:
    others = tuple(p for p in ONESTOP_PACKAGES if p not in ("onestop.catalogue", "onestop.workflows"))
    assert _violations(_modules("workflows"), others + IO_MODULES) == []


def test_the_engine_never_imports_graphql_or_the_process_runner() -> None:
    assert _violations(_modules("engine"), ("onestop.graphql", "onestop.web", "onestop.runtime", "onestop.cli")) == []


def test_graphql_never_imports_workflows_temporal_or_sql() -> None:
    """GraphQL goes through the engine's services and the types the engine re-exports."""
    assert _violations(_modules("graphql"), ("onestop.workflows", "temporalio", "sqlalchemy")) == []


def test_graphql_reaches_the_engine_only_through_its_front_door() -> None:
    deep = [f"{_name(path)}:{imp.line} imports {imp.module}"
            for path in _modules("graphql") for imp in _imports(path)
            if imp.module.startswith("onestop.engine.") and imp.module != "onestop.engine.errors"]
    assert deep == []


@pytest.mark.parametrize("subpackage", ["catalogue", "workflows", "engine", "graphql"])
def test_nothing_but_the_runtime_and_the_cli_imports_the_web_app(subpackage: str) -> None:
    assert _violations(_modules(subpackage), ("onestop.web",)) == []


def test_the_web_app_never_imports_the_engine_workflows_or_catalogue() -> None:
    """The web app is a client of the GraphQL API and nothing else (ARCHITECTURE.md)."""
    forbidden = ("onestop.engine", "onestop.workflows", "onestop.catalogue", "onestop.graphql", "onestop.runtime",
                 "temporalio", "sqlalchemy")
    assert _violations(_modules("web"), forbidden) == []


def test_production_code_imports_the_dev_package_only_from_the_composition_root_when_developing() -> None:
    """``engine/dev`` is wired in by ``engine/container.py`` alone, inside functions that run in development."""
    dev = "onestop.engine.dev"
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _within(path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."), dev):
            continue
        for imp in _imports(path):
            if not _within(imp.module, dev) or imp.typing_only:
                continue
            if _name(path) == "onestop/engine/container.py" and imp.deferred:
                continue
            offenders.append(f"{_name(path)}:{imp.line} imports {imp.module}")
    assert offenders == []


def test_the_composition_root_imports_the_dev_package_only_behind_a_development_check() -> None:
    source = (PACKAGE / "engine" / "container.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        imports_dev = any(imp.module.startswith("onestop.engine.dev")
                          for imp in _imports_in(function))
        if imports_dev:
            guarded = any(isinstance(n, ast.If) and "development" in ast.unparse(n.test)
                          for n in ast.walk(function)) or _called_only_when_developing(tree, function.name)
            assert guarded, f"container.{function.name} imports engine.dev without checking settings.development"


def _imports_in(function: ast.AST) -> list[Import]:
    return [Import(n.module, n.lineno, True, False) for n in ast.walk(function)
            if isinstance(n, ast.ImportFrom) and n.module]


def _called_only_when_developing(tree: ast.Module, name: str) -> bool:
    """Every call of ``name`` sits under an ``if`` whose test reads ``development``."""
    calls = 0
    guarded = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "development" in ast.unparse(node.test):
            guarded += sum(1 for n in ast.walk(node) if isinstance(n, ast.Call) and ast.unparse(n.func) == name)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == name:
            calls += 1
    return calls > 0 and calls == guarded


def test_the_rules_catch_a_planted_violation(tmp_path: Path) -> None:
    """The checks above can fail: each kind of breach in a planted module is reported."""
    planted = tmp_path / "planted.py"
    planted.write_text("from onestop.workflows.contracts import ApplicationView\n"
                       "from onestop.engine import dev\n"
                       "def f():\n    from onestop.engine.dev.idp import DevIdentityProvider\n", encoding="utf-8")
    assert _violations([planted], ("onestop.workflows",)) == [f"{planted}:1 imports onestop.workflows.contracts"]
    found = [(i.module, i.deferred) for i in _imports(planted) if i.module.startswith("onestop.engine.dev")]
    assert found == [("onestop.engine.dev", False), ("onestop.engine.dev.idp", True)]
