"""Shared fixtures. Domain fixtures live in each tests/<package>/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def definitions_dir() -> Path:
    return ROOT / "definitions"
