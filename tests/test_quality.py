"""Lint and strict typing are part of the test command, so CI holds them as it holds behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                          timeout=280, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_finds_nothing_in_onestop() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    import ast
    import io
    import tokenize

    source = path.read_text(encoding="utf-8")
    found = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((getattr(node, "lineno", 1), doc))
    return found


def test_comments_carry_no_planning_ticket_markers() -> None:
    """Comments are for a reader a year from now: no "(H7)", "H4's choice" or notes about who owns what."""
    import re

    marker = re.compile(r"\(H\d+\b|\bH\d+[:'’)]|\bH\d+\.\s|\bowners?:")
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text.strip()[:80]}"
                 for path in sorted((ROOT / "onestop").rglob("*.py"))
                 for line, text in _comments_and_docstrings(path) if marker.search(text)]
    assert offenders == []
