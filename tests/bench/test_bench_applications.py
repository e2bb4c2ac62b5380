"""Smoke test: the applications benchmark runs end to end (real Temporal, engine, API over HTTP) and reports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_applications_benchmark_prints_the_ratio_and_history_figures(repo_root: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own script with the test's interpreter
        [sys.executable, str(repo_root / "bench" / "applications.py"), "--citizens", "2", "--rounds", "1"],
        cwd=repo_root, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    ratio = re.search(r"^ratio onestop/baseline: ([0-9.]+)", done.stdout, re.MULTILINE)
    events = re.search(r"^history events per application: onestop (\d+), baseline (\d+)", done.stdout, re.MULTILINE)
    payload = re.search(r"^payload bytes per application: onestop (\d+), baseline (\d+)", done.stdout, re.MULTILINE)
    assert ratio is not None, done.stdout
    assert events is not None, done.stdout
    assert payload is not None, done.stdout
    assert float(ratio.group(1)) > 0
    assert int(events.group(1)) > 0
    assert int(events.group(2)) > 0
    assert int(payload.group(1)) > 0
