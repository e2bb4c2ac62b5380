"""Web fixtures: front-end assets and chromium installed once per session, one running system."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from web_system import WebSystem, web_system

from onestop.web import assets

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def _has_chinese_font() -> bool:
    if not shutil.which("fc-list"):
        return False
    listed = subprocess.run(["fc-list", ":lang=zh-hk", "family"], capture_output=True, text=True)  # noqa: S607
    return bool(listed.stdout.strip())


@pytest.fixture(scope="session", autouse=True)
def web_assets() -> None:
    """What the README's commands need beyond pip: USWDS and axe-core from npm, Debian's chromium, and a font
    with Chinese glyphs (the pages in Chinese are checked for missing-glyph boxes)."""
    assets.install()
    missing = [package for package, absent in (("chromium", not CHROMIUM.exists()),
                                               ("fonts-noto-cjk", not _has_chinese_font())) if absent]
    if missing and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)  # noqa: S607
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],  # noqa: S603, S607
                       check=True, env=env, capture_output=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
async def system(temporal_env: WorkflowEnvironment, definitions_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebSystem]:
    async with web_system(temporal_env, definitions_dir, tmp_path_factory.mktemp("web")) as running:
        yield running
