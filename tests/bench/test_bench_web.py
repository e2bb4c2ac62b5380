"""Smoke test: the web benchmark runs end to end and the pages and assets stay within their budgets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_web_benchmark_reports_render_times_within_the_budgets(repo_root: Path) -> None:
    done = subprocess.run([sys.executable, str(repo_root / "bench" / "web.py"), "--requests", "5"],  # noqa: S603
                          cwd=repo_root, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    for page in ("home", "search", "step page"):
        assert re.search(rf"^{page}\s+p50 +[0-9.]+ +p95 +[0-9.]+", done.stdout, re.MULTILINE), done.stdout
    assets = re.search(r"^css\+js compressed: ([0-9.]+) KB \(ok\)", done.stdout, re.MULTILINE)
    assert assets is not None, done.stdout
