"""Issue 2 and 4 "done when": each benchmark runs (here at its smallest sizes) and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],  # noqa: S603 - our own script
                            capture_output=True, text=True, timeout=240, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_catalogue_benchmark_prints_latency_percentiles_and_the_graphql_ratio() -> None:
    output = run("catalogue.py", "--sizes", "100,300", "--repeats", "2", "--graphql-seconds", "0.2",
                 "--validate-sizes", "20,40", "--validate-runs", "1", "--reload-size", "20")
    assert re.search(r"p50\s+p95\s+p99", output), output
    for size in ("100", "300"):
        assert re.search(rf"^\s+{size}\s+\d+\.\d+", output, re.MULTILINE), output
    assert re.search(r"ratio \d+\.\d+", output), output
    for size in ("20", "40"):  # onestop validate: CPU s, wall s, RSS MiB, KB/service, exit 0 (the tree is clean)
        assert re.search(rf"^\s+{size}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\s+\d+\.\d+\s+0$", output, re.MULTILINE), output
    assert re.search(r"during the reload .*swapped: True.* p99 ratio \(median of the rounds' ratios\) \d+\.\d+",
                     output), output


def test_the_applications_benchmark_prints_throughput_ratio_and_history_figures() -> None:
    output = run("applications.py", "--citizens", "2", "--rounds", "1", "--loop", "asyncio")
    assert re.search(r"^event loop: asyncio ", output, re.MULTILINE), output
    assert re.search(r"applications/s: onestop \d+\.\d+, baseline \d+\.\d+", output), output
    assert re.search(r"ratio onestop/baseline: \d+\.\d+", output), output
    assert re.search(r"history events per application: onestop \d+, baseline \d+", output), output
    assert re.search(r"payload bytes per application: onestop \d+", output), output
