"""Smoke test: the applications benchmark runs end to end (real Temporal, engine, API over HTTP) and reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


def run_benchmark(repo_root: Path, *args: str, timeout: float = 240) -> tuple[int, str, str]:
    process = subprocess.Popen(  # noqa: S603 - our own script with the test's interpreter
        [sys.executable, str(repo_root / "bench" / "applications.py"), *args],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM lets the benchmark stop its Temporal server; SIGKILL would leave it running.
        process.terminate()
        out, err = process.communicate(timeout=60)
        pytest.fail(f"the benchmark did not finish in {timeout:.0f}s\n{out[-2000:]}\n{err[-4000:]}")
    return process.returncode, out, err


@pytest.mark.slow
def test_the_applications_benchmark_prints_the_ratio_and_history_figures(repo_root: Path, tmp_path: Path) -> None:
    code, out, err = run_benchmark(repo_root, "--citizens", "2", "--rounds", "1", "--json", str(tmp_path / "b.json"))
    assert code == 0, err[-4000:]
    ratio = re.search(r"^ratio onestop/baseline: ([0-9.]+)", out, re.MULTILINE)
    events = re.search(r"^history events per application: onestop (\d+), baseline (\d+)", out, re.MULTILINE)
    payload = re.search(r"^payload bytes per application: onestop (\d+), baseline (\d+)", out, re.MULTILINE)
    assert ratio is not None, out
    assert events is not None, out
    assert payload is not None, out
    assert float(ratio.group(1)) > 0
    assert int(events.group(1)) > 0
    assert int(events.group(2)) > 0
    assert int(payload.group(1)) > 0
    engine = re.search(r"^engine CPU ratio onestop/baseline: ([0-9.]+)", out, re.MULTILINE)
    assert engine is not None, out
    figures = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    cpu = figures["cpu_ms_per_application"]["onestop"]
    # The driver's CPU is its own process's: it is measured, and not part of the engine's.
    assert cpu["load_driver"] > 0
    assert cpu["engine"] > 0
    # The simulated externals are reached through the engine's settings: the IdP's tokens were accepted (else no
    # application would have started), and every application's receipt mail and submission arrived there.
    received = figures["simulated_externals_received"]
    applications = 2 + 2  # the warm-up's and the round's
    assert received == {"mails": applications, "submissions": applications}
    assert cpu["simulated_externals"] > 0  # measured to the nanosecond: some CPU, however little
    # Each part is its own median over the rounds, so the parts add up to the engine's median only roughly (a
    # loaded machine's rounds differ by 15 % and more); a split that missed a thread would be off by far more.
    assert sum(cpu["engine_by_thread"].values()) == pytest.approx(cpu["engine"], rel=0.25)
    # The printed figure is the median rounded to a whole event (a median of an even count can end in .5).
    assert figures["history"]["onestop"]["events"] == pytest.approx(int(events.group(1)), abs=0.5)
    assert set(figures["latency"]["onestop"]) >= {"start", "submit"}
    # Both sides share the loop `onestop serve` runs on by default: uvloop, a runtime dependency on Linux.
    assert re.search(r"^event loop: uvloop ", out, re.MULTILINE), out
    assert figures["event_loop"] == "uvloop"


def test_the_baseline_workflow_module_is_imported_from_bytecode_whatever_the_environment_says(
        repo_root: Path, tmp_path: Path) -> None:
    # The baseline's sandbox re-imports bench/baseline.py for every workflow; once the bench has cached its bytecode
    # those imports compile nothing, even with PYTHONDONTWRITEBYTECODE set (a deployed worker has its bytecode).
    script = f"""
import sys
import time
from importlib import _bootstrap_external
from pathlib import Path
sys.path.insert(0, {str(repo_root / "bench")!r})
compiled = []
original = _bootstrap_external.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return original(self, data, path, *args, **kwargs)
_bootstrap_external.SourceLoader.source_to_code = counting
import applications
applications.cache_baseline_bytecode(Path({str(tmp_path)!r}))
compiled.clear()
for _ in range(3):
    del sys.modules["baseline"]
    import baseline
print(sum(path.endswith("baseline.py") for path in compiled))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,  # noqa: S603
                            cwd=repo_root, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0", result.stdout


def test_the_externals_cpu_is_read_to_the_nanosecond_not_by_ticks(repo_root: Path) -> None:
    # A round of 16 applications costs the simulated externals a few clock ticks (10 ms each) in all: their figure is
    # the scheduler run time of their threads, which moves by what was used.
    if not Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").exists():
        pytest.skip("this kernel keeps no scheduler statistics: the bench counts clock ticks here")
    sys.path.insert(0, str(repo_root / "bench"))
    try:
        import applications
    finally:
        sys.path.remove(str(repo_root / "bench"))
    before = applications.process_cpu(os.getpid())
    began = time.thread_time()
    while time.thread_time() - began < 0.013:
        pass
    used = applications.process_cpu(os.getpid()) - before
    assert 0.013 <= used < 1.0
    assert round(used * 1e9) % 10_000_000 != 0  # not a whole number of ticks
    assert applications.process_cpu(None) == 0.0
